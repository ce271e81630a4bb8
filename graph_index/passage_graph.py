"""HopRAG passage graph: pseudo-queries per passage and hops between passages, built incrementally.

Every passage gets *in-coming* pseudo-queries (questions it answers) and *out-going* ones (questions
it raises but does not answer). An edge ``p_i → p_j`` (a :class:`~tgrag.kernel.records.Hop`) links an
out-going query of ``p_i`` to a passage whose in-coming query matches it, labelled with the query and
a score in (0, 1].

Default generator (no LLM, :class:`EntityPseudoQueryGenerator`): a passage *answers* questions about
its subject (its title, or the first name in its text) and — more weakly — about every name it
mentions; it *raises* a question about every other name it mentions (capitalised spans and quoted
titles, plus entity names the graph indexer linked to it, plus any known subject whose name occurs in
its text). :class:`LLMPseudoQueryGenerator` asks an LLM for the questions instead (config).

Matching an out-going query against in-coming ones uses a hybrid score:
``w_lex * keyword overlap (IDF-weighted, BM25's term weights) + (1 - w_lex) * embedding cosine``.
Subject matches ("who/what is X?" answered by the passage about X) keep their score; mention matches
(both passages talk about X: HippoRAG-like co-mention) are scaled by the name's specificity
(``log(N/df)/log(N)``) and by ``mention_weight`` and kept only for names in at most ``max_df``
passages, at most ``max_edges_per_query`` per query (when there are more, those sharing the most names
with the source first; the default 30 keeps every target of a name within ``max_df``).

Persistence: hops live in the GraphStore. Pseudo-queries are *recomputable* from the passage text
(the default generator is a pure function; an LLM generator is made cheap to replay by the LLM cache
wrapper), so the builder rebuilds its in-memory query tables from the DocumentStore on first use.
Their embeddings are the only costly part: they are kept in ``key_index`` (a second
:class:`FaissVectorIndex`, ids ``"key:<normalised name>"``), saved with the index when it has a path.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from tgrag.kernel.errors import ExtractionError
from tgrag.kernel.protocols import LLM, DocumentStore, Embedder, GraphStore
from tgrag.kernel.records import Hop, LLMRequest, Passage
from tgrag.stores.faiss_index import FaissVectorIndex

SUBJECT = "subject"
MENTION = "mention"

_TOKEN = re.compile(r"\w+", re.UNICODE)
_CAP = re.compile(
    r"(?:[A-Z][\w'’\-.]*|\d{3,4})"
    r"(?:\s+(?:(?:of|the|de|von|van|and|la|le|du|del|da|for|in|on)\s+)*(?:[A-Z][\w'’\-.]*|\d+))*")
_QUOTED = re.compile(r"[\"“]([^\"”]{3,80})[\"”]")
_PAREN = re.compile(r"\s*\([^)]*\)\s*")
_STOP = frozenset(["the", "a", "an", "of", "in", "on", "at", "for", "and", "to", "by", "with", "from", "as", "is", "was", "he", "she", "it", "they", "his", "her", "its", "this", "that", "these", "there", "their", "in", "when", "after", "before", "during", "however"])
_MAX_NGRAM = 8


@dataclass(frozen=True, slots=True)
class PseudoQuery:
    """One pseudo-query: the question text and the normalised name it is about (the match key)."""

    text: str
    key: str
    kind: str  # SUBJECT or MENTION


@dataclass(frozen=True, slots=True)
class PassageQueries:
    passage_id: str
    incoming: tuple[PseudoQuery, ...]
    outgoing: tuple[PseudoQuery, ...]


@runtime_checkable
class PseudoQueryGenerator(Protocol):
    def generate(self, passages: Sequence[Passage]) -> list[PassageQueries]: ...


# ------------------------------------------------------------------------------------------------
def normalise_key(name: str) -> str:
    """Lower-case word tokens joined by spaces (``"Pál Gábor's"`` → ``"pál gábor s"``)."""
    return " ".join(_TOKEN.findall(name.lower()))


def subject_names(passage: Passage) -> list[str]:
    """The passage's subject: its title (and the title without a "(disambiguator)"), else the
    first capitalised name of its text."""
    title = (passage.title or "").strip()
    if title:
        names = [title, _PAREN.sub(" ", title).strip()]
    else:
        first = next(iter(mention_spans(passage.text[:200])), "")
        names = [first] if first else []
    return [n for n in dict.fromkeys(names) if normalise_key(n)]


def mention_spans(text: str) -> list[str]:
    """Names in ``text``: maximal capitalised spans (leading "The" dropped) and quoted titles."""
    out: list[str] = []
    for m in _CAP.finditer(text):
        span = m.group(0).strip(" .-'’")
        if span.lower().startswith("the "):
            span = span[4:]
        if len(span) >= 3 and span.lower() not in _STOP:
            out.append(span)
    out.extend(m.group(1).strip() for m in _QUOTED.finditer(text))
    return list(dict.fromkeys(out))


class EntityPseudoQueryGenerator:
    """LLM-free pseudo-queries from the passage's subject, its facts and the names it mentions.

    With a ``graph`` (filled by the graph indexer before the passage graph is built), entity names
    linked to the passage (``Entity.mentions``) are used as mentions too, and every fact extracted
    from the passage adds an in-coming query "What is the <predicate> of <subject>?" keyed by the
    fact's subject, so the passage graph shares the KG's entity resolution.
    """

    def __init__(self, graph: GraphStore | None = None) -> None:
        self.graph = graph

    def generate(self, passages: Sequence[Passage]) -> list[PassageQueries]:
        linked: dict[str, list[str]] = defaultdict(list)
        fact_queries: dict[str, list[PseudoQuery]] = defaultdict(list)
        if self.graph is not None and passages:
            wanted = {p.passage_id for p in passages}
            names: dict[str, str] = {}
            for ent in self.graph.entities():
                names[ent.entity_id] = ent.name
                for pid in wanted.intersection(ent.mentions):
                    linked[pid].append(ent.name)
            for fact in self.graph.facts(passage_ids=wanted):
                name = names.get(fact.subject)
                if name:  # the passage states this fact: it answers "what is the <predicate> of <subject>?"
                    fact_queries[fact.source_passage_id].append(
                        PseudoQuery(f"What is the {fact.predicate} of {name}?", normalise_key(name), SUBJECT))
        out = []
        for p in passages:
            subjects = subject_names(p)
            subject_keys = {normalise_key(s) for s in subjects}
            mentions = [m for m in mention_spans(p.text) + linked.get(p.passage_id, [])
                        if normalise_key(m) not in subject_keys]
            incoming = [PseudoQuery(f"Who or what is {s}?", normalise_key(s), SUBJECT) for s in subjects]
            incoming += fact_queries.get(p.passage_id, [])
            incoming += [PseudoQuery(f"What else is known about {m}?", normalise_key(m), MENTION)
                         for m in mentions]
            outgoing = [PseudoQuery(f"Who or what is {m}?", normalise_key(m), MENTION) for m in mentions]
            out.append(PassageQueries(p.passage_id, _dedupe(incoming), _dedupe(outgoing)))
        return out


_LLM_PROMPT = (
    "Passage:\n{text}\n\nWrite questions for a search index. Reply with JSON only: "
    '{{"answers": [questions this passage answers, about its subject], '
    '"raises": [questions about other things it names but does not explain]}}. '
    "Each question must name the thing it is about. At most {n} of each.")


class LLMPseudoQueryGenerator:
    """HopRAG's original: an LLM writes the in-coming and out-going questions (JSON, validated).

    The match key of an LLM question is its longest capitalised name (else the whole question).
    A reply that is not valid JSON is retried ``retries`` times, then the passage falls back to the
    LLM-free generator (counted in ``failures``).
    """

    def __init__(self, llm: LLM, *, per_kind: int = 4, retries: int = 1, max_tokens: int = 200) -> None:
        self.llm = llm
        self.per_kind = per_kind
        self.retries = retries
        self.max_tokens = max_tokens
        self.failures: list[ExtractionError] = []
        self._fallback = EntityPseudoQueryGenerator()

    def generate(self, passages: Sequence[Passage]) -> list[PassageQueries]:
        out = []
        for p in passages:
            try:
                out.append(self._one(p))
            except ExtractionError as e:
                self.failures.append(e)
                out.extend(self._fallback.generate([p]))
        return out

    def _one(self, p: Passage) -> PassageQueries:
        prompt = _LLM_PROMPT.format(text=p.text[:1500], n=self.per_kind)
        last = ""
        for _ in range(self.retries + 1):
            resp = self.llm.complete(LLMRequest.chat(prompt, max_tokens=self.max_tokens, json_mode=True))
            last = resp.text
            parsed = _parse_llm_queries(resp.text)
            if parsed is not None:
                answers, raises = parsed
                subj = {normalise_key(s) for s in subject_names(p)}
                incoming = [PseudoQuery(q, _question_key(q), SUBJECT if _question_key(q) in subj else MENTION)
                            for q in answers[: self.per_kind]]
                incoming += [PseudoQuery(f"Who or what is {s}?", normalise_key(s), SUBJECT)
                             for s in subject_names(p)]
                outgoing = [PseudoQuery(q, _question_key(q), MENTION) for q in raises[: self.per_kind]]
                return PassageQueries(p.passage_id, _dedupe(incoming), _dedupe(outgoing))
        raise ExtractionError(f"pseudo-query reply is not the expected JSON: {last[:120]!r}",
                              passage_id=p.passage_id)


def _parse_llm_queries(text: str) -> tuple[list[str], list[str]] | None:
    m = re.search(r"\{.*\}", text, re.DOTALL)
    if not m:
        return None
    try:
        data = json.loads(m.group(0))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    lists = [data.get("answers"), data.get("raises")]
    if not all(isinstance(x, list) and all(isinstance(q, str) for q in x) for x in lists):
        return None
    return [q.strip() for q in lists[0] if q.strip()], [q.strip() for q in lists[1] if q.strip()]


def _question_key(question: str) -> str:
    names = mention_spans(question)
    names = [n for n in names if normalise_key(n) not in _STOP and n.split()[0].lower() not in
             {"who", "what", "when", "where", "which", "how", "why"}]
    return normalise_key(max(names, key=len)) if names else normalise_key(question)


def _dedupe(queries: Iterable[PseudoQuery]) -> tuple[PseudoQuery, ...]:
    seen: dict[tuple[str, str], PseudoQuery] = {}
    for q in queries:
        if q.key and (q.key, q.kind) not in seen:
            seen[(q.key, q.kind)] = q
    return tuple(seen.values())


# ------------------------------------------------------------------------------------------------
def keyword_overlap(a: str, b: str, idf: dict[str, float]) -> float:
    """IDF-weighted Jaccard overlap of two keys' tokens (1.0 for identical keys)."""
    ta, tb = set(a.split()), set(b.split())
    if not ta or not tb:
        return 0.0
    w = lambda toks: sum(idf.get(t, 1.0) for t in toks)  # noqa: E731
    return w(ta & tb) / w(ta | tb)


def find_known_names(text: str, names: dict[str, object]) -> set[str]:
    """Keys of ``names`` that occur as whole-word n-grams (up to 8 words) of ``text``."""
    toks = _TOKEN.findall(text.lower())
    found = set()
    for i in range(len(toks)):
        for j in range(i + 1, min(len(toks), i + _MAX_NGRAM) + 1):
            key = " ".join(toks[i:j])
            if key in names:
                found.add(key)
    return found


class PassageGraphBuilder:
    """Maintains the Hop records of the passage graph in ``graph`` as passages come and go."""

    def __init__(self, graph: GraphStore, docs: DocumentStore, embedder: Embedder, *,
                 generator: PseudoQueryGenerator | None = None, threshold: float = 0.8,
                 max_edges_per_query: int = 30, keyword_weight: float = 0.5, mention_weight: float = 0.6,
                 max_df: int = 30, fuzzy_candidates: int = 3,
                 key_index: FaissVectorIndex | None = None) -> None:
        self.graph = graph
        self.docs = docs
        self.embedder = embedder
        self.generator = generator or EntityPseudoQueryGenerator(graph)
        self.threshold = threshold
        self.max_edges_per_query = max_edges_per_query
        self.keyword_weight = keyword_weight
        self.mention_weight = mention_weight
        self.max_df = max_df
        self.fuzzy_candidates = fuzzy_candidates
        self.key_index = key_index if key_index is not None else FaissVectorIndex(embedder.dim)
        self._queries: dict[str, PassageQueries] | None = None
        self._texts: dict[str, str] = {}
        self._hops: dict[str, Hop] | None = None  # what the graph store holds
        self._names: dict[str, str] | None = None  # entity id -> name when the queries were made

    # -- state --------------------------------------------------------------------------------
    def _state(self, exclude: set[str]) -> dict[str, PassageQueries]:
        if self._queries is None:
            existing = [p for p in self.docs.iter_passages() if p.passage_id not in exclude]
            self._queries = {}
            self._names = None
            self._register(existing)
        return self._queries

    def _renamed(self, existing: set[str]) -> list[Passage]:
        """Passages of ``existing`` that mention an entity whose canonical name (or id) changed since
        their queries were made (a write can change it: ``graph_index.entities.canonical``); their
        queries name it, so they are made again, as a one-batch build would make them."""
        now = {e.entity_id: (e.name, e.mentions) for e in self.graph.entities()}
        before, self._names = self._names, {eid: name for eid, (name, _) in now.items()}
        if before is None:
            return []
        # an id new since then that old passages mention is an entity moved to its key id
        # (``graph_index.entities.key_id``): its old passages may have named it otherwise
        pids = {pid for eid, (name, mentions) in now.items() if before.get(eid) != name for pid in mentions}
        return self.docs.get_passages(sorted(pids & existing)) if pids & existing else []

    def _register(self, passages: Sequence[Passage]) -> None:
        assert self._queries is not None
        for pq in self.generator.generate(passages):
            self._queries[pq.passage_id] = pq
        for p in passages:
            self._texts[p.passage_id] = p.text
        self._embed_keys({q.key for p in passages for q in self._all_queries(p.passage_id)})

    def _all_queries(self, pid: str) -> tuple[PseudoQuery, ...]:
        assert self._queries is not None
        pq = self._queries[pid]
        return pq.incoming + pq.outgoing

    def _embed_keys(self, keys: set[str]) -> None:
        todo = sorted(k for k in keys if f"key:{k}" not in self.key_index)
        if todo:
            vecs = self.embedder.encode(todo, kind="query")
            self.key_index.add([f"key:{k}" for k in todo], vecs)

    def _vectors(self, keys: Sequence[str]) -> np.ndarray:
        if not keys:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.stack([self.key_index.vector(f"key:{k}") for k in keys])

    def reset(self) -> None:
        """Drop every cache (after the stores were rolled back or re-loaded); rebuilt lazily."""
        self._queries = None
        self._texts = {}
        self._hops = None
        self._names = None

    def _stored_hops(self) -> dict[str, Hop]:
        if self._hops is None:
            self._hops = {h.hop_id: h for h in self.graph.hops()}
        return self._hops

    # -- public -------------------------------------------------------------------------------
    def update(self, *, added: Sequence[Passage] = (), removed: Iterable[str] = ()) -> tuple[int, int]:
        """Add passages and drop passage ids, then make the stored hops exactly those that linking
        the whole corpus gives: hop scores use corpus statistics (passage count, key document
        frequencies, IDF), so a hop between old passages can change when others come or go. The
        result is the graph a one-batch build of the same corpus makes, whatever the insert order;
        only hops that changed are written. Returns (hops added or re-scored, hops removed)."""
        new = [p for p in added if p.passage_id]
        new_ids = {p.passage_id for p in new}
        gone_ids = set(removed) - new_ids
        if not new and not gone_ids:
            return 0, 0
        state = self._state(new_ids)
        for pid in gone_ids:
            state.pop(pid, None)
            self._texts.pop(pid, None)
        renamed = self._renamed(set(state) - new_ids)
        if new or renamed:
            self._register([*new, *renamed])
        want = {h.hop_id: h for h in self._link(set(state), state)} if state else {}
        have = self._stored_hops()
        stale = sorted(hid for hid in have if hid not in want)
        changed = [h for hid, h in sorted(want.items()) if have.get(hid) != h]
        self.graph.delete(stale)
        self.graph.upsert(changed)
        self._hops = want
        return len(changed), len(stale)

    def add(self, passages: Sequence[Passage]) -> int:
        """Index new passages; returns how many hops were created or re-scored."""
        return self.update(added=passages)[0]

    def remove(self, passage_ids: Iterable[str]) -> int:
        """Drop the passages' pseudo-queries and every hop touching them, re-score the rest;
        returns hops removed."""
        return self.update(removed=passage_ids)[1]

    # -- linking ------------------------------------------------------------------------------
    def _link(self, new_ids: set[str], state: dict[str, PassageQueries]) -> list[Hop]:
        subjects: dict[str, set[str]] = defaultdict(set)  # subject key -> passages
        mentioned: dict[str, set[str]] = defaultdict(set)  # mention key -> passages
        for pid, pq in state.items():
            for q in pq.incoming:
                (subjects if q.kind == SUBJECT else mentioned)[q.key].add(pid)
        n = max(2, len(state))
        df = Counter({k: len(v) for k, v in mentioned.items()})
        tok_df: Counter[str] = Counter(t for pq in state.values() for q in pq.incoming for t in set(q.key.split()))
        idf = {t: math.log(1 + n / c) for t, c in tok_df.items()}
        # out-going queries per source: its own, plus every known subject named in its text
        new_subjects = {k for k, ps in subjects.items() if ps & new_ids}
        out: dict[str, dict[str, str]] = {}  # src -> key -> query text
        for pid, pq in state.items():
            is_new = pid in new_ids
            keys = {q.key: q.text for q in pq.outgoing}
            scan = subjects if is_new else {k: subjects[k] for k in new_subjects}
            found = find_known_names(self._texts.get(pid, ""), scan) if scan else set()  # type: ignore[arg-type]
            for k in found:
                keys.setdefault(k, f"Who or what is {k}?")
            own = {q.key for q in pq.incoming if q.kind == SUBJECT}
            out[pid] = {k: t for k, t in keys.items() if k not in own}
        # new sources may reach every subject; existing sources only the new passages' subjects
        new_keys = sorted({k for pid, keys in out.items() if pid in new_ids for k in keys})
        old_keys = sorted({k for pid, keys in out.items() if pid not in new_ids for k in keys})
        matches = {True: self._match_subjects(new_keys, sorted(subjects), idf),
                   False: self._match_subjects(old_keys, sorted(new_subjects), idf)}
        hops: dict[str, Hop] = {}

        def emit(src: str, dst: str, text: str, score: float) -> None:
            if src == dst or score <= 0:
                return
            h = Hop.make(src, dst, text, round(min(1.0, score), 6))
            if h.hop_id not in hops or hops[h.hop_id].score < h.score:
                hops[h.hop_id] = h

        for src, keys in out.items():
            src_new = src in new_ids
            for key, text in keys.items():
                for skey, score in matches[src_new].get(key, ()):
                    targets = subjects[skey] if src_new else subjects[skey] & new_ids
                    for dst in targets:
                        emit(src, dst, text, score)
                if key in mentioned and 1 < df[key] <= self.max_df:
                    targets = mentioned[key] if src_new else mentioned[key] & new_ids
                    spec = math.log(n / df[key]) / math.log(n)
                    ranked = self._closest(src, sorted(targets - {src}))[: self.max_edges_per_query]
                    for dst in ranked:
                        emit(src, dst, text, self.mention_weight * spec)
        return list(hops.values())

    def _match_subjects(self, keys: list[str], subject_keys: list[str], idf: dict[str, float]
                        ) -> dict[str, list[tuple[str, float]]]:
        """For each out-going key, the subject keys it matches with a hybrid score >= threshold."""
        out: dict[str, list[tuple[str, float]]] = {}
        if not keys or not subject_keys:
            return out
        subject_vecs = self._vectors(subject_keys)
        position = {k: i for i, k in enumerate(subject_keys)}
        for start in range(0, len(keys), 2048):
            chunk = keys[start:start + 2048]
            sims = self._vectors(chunk) @ subject_vecs.T
            top = np.argsort(-sims, axis=1)[:, : self.fuzzy_candidates]
            for row, key in enumerate(chunk):
                cands = {subject_keys[i]: float(sims[row, i]) for i in top[row].tolist()}
                if key in position:
                    cands[key] = 1.0
                found = []
                for skey, cos in cands.items():
                    score = 1.0 if skey == key else \
                        self.keyword_weight * keyword_overlap(key, skey, idf) + (1 - self.keyword_weight) * cos
                    if score >= self.threshold:
                        found.append((skey, score))
                if found:
                    found.sort(key=lambda x: (-x[1], x[0]))
                    out[key] = found[: self.max_edges_per_query]
        return out

    def _closest(self, src: str, targets: list[str]) -> list[str]:
        """Targets ordered by the similarity of their names to the source's names (cheap proxy for
        passage similarity, no passage vectors needed)."""
        if len(targets) <= self.max_edges_per_query:
            return targets
        assert self._queries is not None
        src_keys = {q.key for q in self._all_queries(src)}
        return sorted(targets, key=lambda t: (-len(src_keys & {q.key for q in self._all_queries(t)}), t))
