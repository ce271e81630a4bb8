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
N (the passage count) and the token document frequencies of the IDF are rounded up to powers of two,
so that a write leaves the scores of hops it does not touch as they were.

Incremental: an update re-links only the sources whose hops can have changed (new and re-made
passages, those going out with a key whose matches or target passages changed, those whose text
names a subject key that came or went) and keeps every other stored hop; when N's bucket changes, or
the builder was not :meth:`~PassageGraphBuilder.prime`-d before the write, it re-links them all. Either
way the stored hops are those a one-batch build of the same corpus makes.

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
        self._joined: dict[str, str] = {}  # pid -> " tok tok ... " (lower-cased word tokens of its text)
        self._tok_pids: defaultdict[str, set[str]] = defaultdict(set)  # text token -> pids
        self._out_by_key: defaultdict[str, set[str]] = defaultdict(set)  # out-going query key -> pids
        self._names: dict[str, tuple[str, frozenset[str]]] | None = None  # entity id -> (name, passages)
        #   when the queries were made
        self._stats: _Stats | None = None  # the statistics the stored hops were scored with
        self._cands: dict[str, tuple[tuple[str, float], ...]] = {}  # key -> closest subject keys
        self._matches: dict[str, tuple[tuple[str, float], ...]] = {}  # key -> matched subject keys
        self._primed = False
        self.last_update: dict[str, object] = {}  # what the last update re-linked (benchmarks read it)

    # -- state --------------------------------------------------------------------------------
    def _state(self, exclude: set[str]) -> dict[str, PassageQueries]:
        if self._queries is None:
            existing = [p for p in self.docs.iter_passages() if p.passage_id not in exclude]
            self._queries = {}
            self._out_by_key = defaultdict(set)
            self._register(existing)
            self._names = _linked_names(self.graph)
        return self._queries

    def prime(self) -> None:
        """Load the query tables of the corpus the stores hold now, before a write changes them, so
        that the write's :meth:`update` can re-link only the passages it touches (an update on an
        un-primed builder re-links the whole corpus). The facade calls this at the start of every
        write; it costs nothing once loaded."""
        if self._queries is None:
            self._state(set())
            self._primed = True

    def _renamed(self, existing: set[str]) -> list[Passage]:
        """Passages of ``existing`` that mention an entity whose canonical name (or id) changed since
        their queries were made (a write can change it: ``graph_index.entities.canonical``); their
        queries name it, so they are made again, as a one-batch build would make them."""
        now = _linked_names(self.graph)
        before, self._names = self._names, now
        if before is None:
            return []
        # an id new since then that old passages mention is an entity moved to its key id
        # (``graph_index.entities.key_id``): its old passages may have named it otherwise; an
        # entity that gained or lost passages (a merge into an existing id) or went away changes
        # the names those passages link
        pids: set[str] = set()
        for eid, (name, mentions) in now.items():
            old = before.get(eid)
            pids |= mentions if old is None or old[0] != name else old[1] ^ mentions
        for eid, (_, mentions) in before.items():
            if eid not in now:
                pids |= mentions
        return self.docs.get_passages(sorted(pids & existing)) if pids & existing else []

    def _register(self, passages: Sequence[Passage]) -> None:
        assert self._queries is not None
        for pq in self.generator.generate(passages):
            self._forget(pq.passage_id)
            self._queries[pq.passage_id] = pq
            for q in pq.outgoing:
                self._out_by_key[q.key].add(pq.passage_id)
        for p in passages:
            self._texts[p.passage_id] = p.text
            toks = _TOKEN.findall(p.text.lower())
            self._joined[p.passage_id] = f" {' '.join(toks)} "
            for t in set(toks):
                self._tok_pids[t].add(p.passage_id)
        self._embed_keys({q.key for p in passages for q in self._all_queries(p.passage_id)})

    def _forget(self, pid: str) -> None:
        """Drop a passage from the query tables and the text index."""
        assert self._queries is not None
        pq = self._queries.pop(pid, None)
        if pq is not None:
            for q in pq.outgoing:
                self._out_by_key[q.key].discard(pid)
        joined = self._joined.pop(pid, None)
        if joined is not None:
            for t in set(joined.split()):
                self._tok_pids[t].discard(pid)
        self._texts.pop(pid, None)

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
            return np.zeros((0, self.embedder.dim), dtype=np.float64)
        # float64: a cosine must not depend on the shape of the product it was computed in, or an
        # incremental re-link (a few rows) and a rebuild (all rows) could round a score apart
        return np.stack([self.key_index.vector(f"key:{k}") for k in keys]).astype(np.float64)

    def reset(self) -> None:
        """Drop every cache (after the stores were rolled back or re-loaded); rebuilt lazily."""
        self._queries = None
        self._texts = {}
        self._joined = {}
        self._tok_pids = defaultdict(set)
        self._out_by_key = defaultdict(set)
        self._names = None
        self._stats = None
        self._cands = {}
        self._matches = {}
        self._primed = False

    # -- public -------------------------------------------------------------------------------
    def update(self, *, added: Sequence[Passage] = (), removed: Iterable[str] = ()) -> tuple[int, int]:
        """Add passages and drop passage ids, then make the stored hops exactly those that linking
        the whole corpus gives. Hop scores use corpus statistics (key document frequencies, IDF and
        the passage count, the last two bucketed to powers of two), so a hop between old passages
        can change when others come or go: only the sources whose hops can have changed are
        re-linked (all of them when the passage-count bucket changes or the builder was not
        primed). The result is the graph a one-batch build of the same corpus makes, whatever the
        insert order; only hops that changed are written. Returns (hops added or re-scored, hops
        removed)."""
        new = [p for p in added if p.passage_id]
        new_ids = {p.passage_id for p in new}
        gone_ids = set(removed) - new_ids
        if not new and not gone_ids:
            return 0, 0
        full = self._queries is None or not self._primed
        state = self._state(new_ids)
        prev = self._stats if self._stats is not None else _stats(state)
        full = full or _pow2(max(2, len((set(state) - gone_ids) | new_ids))) != prev.n  # bucket changes
        if not full and not self._cands and prev.subjects:
            self._refresh_matches(prev, None, set(), set(), set())
        gone_ids &= set(state)
        before = {pid: {q.key for q in self._all_queries(pid)} for pid in gone_ids}
        for pid in gone_ids:
            self._forget(pid)
        renamed = self._renamed(set(state) - new_ids)
        for p in renamed:
            before[p.passage_id] = {q.key for q in self._all_queries(p.passage_id)}
        if new or renamed:
            self._register([*new, *renamed])
        cur = _stats(state)
        self._stats = cur
        full = full or cur.n != prev.n
        touched = new_ids | {p.passage_id for p in renamed}
        if full:
            self._cands, self._matches = {}, {}
            self._refresh_matches(cur, None, set(), set(), set())
            sources = set(state)
            have = {h.hop_id: h for h in self.graph.hops()}
        else:
            sources = self._dirty_sources(prev, cur, {p.passage_id for p in renamed}, before) | touched
            sources |= {h.src for h in self.graph.hops(dst=gone_ids)} if gone_ids else set()
            sources &= set(state)
            have = {h.hop_id: h for h in self.graph.hops(src=sources | gone_ids)}
        want: dict[str, Hop] = {}
        for src in sorted(sources):
            want.update(self._source_hops(src, cur))
        stale = sorted(hid for hid in have if hid not in want)
        changed = [h for hid, h in sorted(want.items()) if have.get(hid) != h]
        self.graph.delete(stale)
        self.graph.upsert(changed)
        self._primed = True
        self.last_update = {"full": full, "sources_relinked": len(sources), "passages": len(state),
                            "hops_written": len(changed), "hops_removed": len(stale)}
        return len(changed), len(stale)

    def add(self, passages: Sequence[Passage]) -> int:
        """Index new passages; returns how many hops were created or re-scored."""
        return self.update(added=passages)[0]

    def remove(self, passage_ids: Iterable[str]) -> int:
        """Drop the passages' pseudo-queries and every hop touching them, re-score the rest;
        returns hops removed."""
        return self.update(removed=passage_ids)[1]

    # -- linking ------------------------------------------------------------------------------
    def _universe(self, st: _Stats) -> set[str]:
        """Every key a source can go out with: out-going query keys and (names found in texts)
        subject keys."""
        return {k for k, ps in self._out_by_key.items() if ps} | set(st.subjects)

    def _refresh_matches(self, st: _Stats, prev: _Stats | None, added_s: set[str], removed_s: set[str],
                         idf_changed: set[str]) -> set[str]:
        """Bring the fuzzy candidates (the ``fuzzy_candidates`` subject keys closest by cosine, ties
        by key) and the match lists of every key up to date with ``st``; returns the keys whose
        match list changed. Without ``prev`` everything is computed afresh."""
        universe = self._universe(st)
        subject_keys = sorted(st.subjects)
        old_matches = self._matches
        for k in [k for k in self._cands if k not in universe]:
            del self._cands[k]
        redo = sorted(k for k in universe if k not in self._cands
                      or any(s in removed_s for s, _ in self._cands[k]))
        self._cands.update(self._top_cosine(redo, subject_keys))
        redo_set = set(redo)
        merged: set[str] = set()
        if added_s and prev is not None:
            merged = self._merge_cosine(sorted(universe - redo_set), sorted(added_s))
        new_matches: dict[str, tuple[tuple[str, float], ...]] = {}
        for k in universe:
            if prev is not None and k in old_matches and k not in redo_set and k not in merged \
                    and k not in added_s and k not in removed_s and not self._touches(k, idf_changed):
                new_matches[k] = old_matches[k]
            else:
                new_matches[k] = self._match_one(k, st)
        changed = {k for k in universe | set(old_matches) if old_matches.get(k) != new_matches.get(k)}
        self._matches = new_matches
        return changed

    def _touches(self, key: str, tokens: set[str]) -> bool:
        if not tokens:
            return False
        if tokens.intersection(key.split()):
            return True
        return any(tokens.intersection(s.split()) for s, _ in self._cands.get(key, ()))

    def _top_cosine(self, keys: list[str], subject_keys: list[str]) -> dict[str, tuple[tuple[str, float], ...]]:
        out: dict[str, tuple[tuple[str, float], ...]] = {}
        if not keys:
            return out
        if not subject_keys:
            return {k: () for k in keys}
        sv = self._vectors(subject_keys)
        take = min(self.fuzzy_candidates, len(subject_keys))
        names = np.array(subject_keys, dtype=object)
        for start in range(0, len(keys), 1024):
            chunk = keys[start:start + 1024]
            sims = self._vectors(chunk) @ sv.T
            if take < len(subject_keys):
                top = np.argpartition(-sims, take - 1, axis=1)[:, :take]
                vals = np.take_along_axis(sims, top, axis=1)
                tied = (sims >= vals.min(axis=1, keepdims=True)).sum(axis=1) > take  # ties at the cut
            else:
                top = np.tile(np.arange(len(subject_keys)), (len(chunk), 1))
                vals, tied = sims, np.zeros(len(chunk), dtype=bool)
            for row, key in enumerate(chunk):
                if tied[row]:
                    out[key] = _best(sims[row], subject_keys, take)
                else:
                    out[key] = tuple(sorted(zip(names[top[row]].tolist(), vals[row].tolist()),
                                            key=lambda x: (-x[1], x[0])))
        return out

    def _merge_cosine(self, keys: list[str], added: list[str]) -> set[str]:
        """Fold new subject keys into the candidates of ``keys``; returns the keys whose candidates
        changed."""
        changed: set[str] = set()
        if not keys or not added:
            return changed
        av = self._vectors(added)
        take = min(self.fuzzy_candidates, len(added))
        for start in range(0, len(keys), 4096):
            chunk = keys[start:start + 4096]
            sims = self._vectors(chunk) @ av.T
            best = sims.max(axis=1)
            for row, key in enumerate(chunk):
                old = self._cands[key]
                if len(old) >= self.fuzzy_candidates and best[row] < old[-1][1]:
                    continue
                merged = sorted({*old, *_best(sims[row], added, take)}, key=lambda x: (-x[1], x[0]))
                merged = merged[: self.fuzzy_candidates]
                if tuple(merged) != old:
                    self._cands[key] = tuple(merged)
                    changed.add(key)
        return changed

    def _match_one(self, key: str, st: _Stats) -> tuple[tuple[str, float], ...]:
        """The subject keys ``key`` matches with a hybrid score >= threshold, best first."""
        cands = dict(self._cands.get(key, ()))
        if key in st.subjects:
            cands[key] = 1.0
        found = []
        for skey, cos in cands.items():
            score = 1.0 if skey == key else \
                self.keyword_weight * keyword_overlap(key, skey, st.idf) + (1 - self.keyword_weight) * cos
            if score >= self.threshold:
                found.append((skey, score))
        found.sort(key=lambda x: (-x[1], x[0]))
        return tuple(found[: self.max_edges_per_query])

    def _containing(self, keys: Iterable[str]) -> set[str]:
        """Passages whose text holds one of ``keys`` as a whole-word n-gram (``find_known_names``)."""
        out: set[str] = set()
        for key in keys:
            toks = key.split()
            if not toks or len(toks) > _MAX_NGRAM:
                continue
            pools = sorted((self._tok_pids.get(t, set()) for t in set(toks)), key=len)
            if not pools[0]:
                continue
            cands = set(pools[0]).intersection(*pools[1:])
            needle = f" {key} "
            out.update(pid for pid in cands if needle in self._joined[pid])
        return out

    def _dirty_sources(self, prev: _Stats, cur: _Stats, renamed: set[str],
                       before: dict[str, set[str]]) -> set[str]:
        """Old passages whose out-going hops can differ after this update."""
        added_s = set(cur.subjects) - set(prev.subjects)
        removed_s = set(prev.subjects) - set(cur.subjects)
        idf_changed = {t for t in set(prev.idf) | set(cur.idf) if prev.idf.get(t) != cur.idf.get(t)}
        changed = self._refresh_matches(cur, prev, added_s, removed_s, idf_changed)
        moved_s = {k for k in set(prev.subjects) | set(cur.subjects) if prev.subjects.get(k) != cur.subjects.get(k)}
        dirty = set(changed)
        dirty |= {k for k, lst in self._matches.items() if any(s in moved_s for s, _ in lst)}
        linkable = lambda ps: ps is not None and 1 < len(ps) <= self.max_df  # noqa: E731  (mention hops made)
        dirty |= {k for k in set(prev.mentioned) | set(cur.mentioned) if prev.mentioned.get(k) != cur.mentioned.get(k)
                  and (linkable(prev.mentioned.get(k)) or linkable(cur.mentioned.get(k)))}
        for keys in before.values():  # re-made or dropped passages: their old keys rank targets
            dirty |= keys
        for pid in renamed:  # ... and so do the re-made ones' new keys
            dirty |= {q.key for q in self._all_queries(pid)}
        out = {pid for k in dirty for pid in self._out_by_key.get(k, ())}
        subjectish = (dirty & (set(prev.subjects) | set(cur.subjects))) | added_s | removed_s
        return out | self._containing(subjectish)

    def _out_keys(self, pid: str, st: _Stats) -> dict[str, str]:
        """A source's out-going keys with their query texts: its own, plus every known subject named
        in its text, less its own subjects."""
        assert self._queries is not None
        pq = self._queries[pid]
        keys = {q.key: q.text for q in pq.outgoing}
        for k in sorted(find_known_names(self._texts.get(pid, ""), st.subjects)):  # type: ignore[arg-type]
            keys.setdefault(k, f"Who or what is {k}?")
        own = {q.key for q in pq.incoming if q.kind == SUBJECT}
        return {k: t for k, t in keys.items() if k not in own}

    def _source_hops(self, src: str, st: _Stats) -> dict[str, Hop]:
        """Every hop out of ``src`` that linking the whole corpus gives."""
        hops: dict[str, Hop] = {}

        def emit(dst: str, text: str, score: float) -> None:
            if src == dst or score <= 0:
                return
            h = Hop.make(src, dst, text, round(min(1.0, score), 6))
            if h.hop_id not in hops or hops[h.hop_id].score < h.score:
                hops[h.hop_id] = h

        log_n = math.log(st.n)
        for key, text in self._out_keys(src, st).items():
            for skey, score in self._matches.get(key, ()):
                for dst in st.subjects[skey]:
                    emit(dst, text, score)
            targets = st.mentioned.get(key)
            if targets is not None and 1 < len(targets) <= self.max_df:
                spec = math.log(st.n / len(targets)) / log_n
                for dst in self._closest(src, sorted(targets - {src}))[: self.max_edges_per_query]:
                    emit(dst, text, self.mention_weight * spec)
        return hops

    def _closest(self, src: str, targets: list[str]) -> list[str]:
        """Targets ordered by the similarity of their names to the source's names (cheap proxy for
        passage similarity, no passage vectors needed)."""
        if len(targets) <= self.max_edges_per_query:
            return targets
        assert self._queries is not None
        src_keys = {q.key for q in self._all_queries(src)}
        return sorted(targets, key=lambda t: (-len(src_keys & {q.key for q in self._all_queries(t)}), t))


def _linked_names(graph: GraphStore) -> dict[str, tuple[str, frozenset[str]]]:
    """Entity id -> (name, the passages linked to it): what the queries of those passages name."""
    return {e.entity_id: (e.name, frozenset(e.mentions)) for e in graph.entities()}


def _pow2(x: int) -> int:
    """The smallest power of two >= ``x`` (``x >= 1``)."""
    return 1 << max(0, x - 1).bit_length()


@dataclass(frozen=True, slots=True)
class _Stats:
    """The corpus statistics hop scores read: passages per subject key and per mention key, the
    passage count and the IDF of key tokens, both bucketed to powers of two so that most writes
    leave them (and the scores of untouched hops) as they were."""

    subjects: dict[str, frozenset[str]]
    mentioned: dict[str, frozenset[str]]
    n: int
    idf: dict[str, float]


def _stats(state: dict[str, PassageQueries]) -> _Stats:
    subjects: dict[str, set[str]] = defaultdict(set)
    mentioned: dict[str, set[str]] = defaultdict(set)
    tok_df: Counter[str] = Counter()
    for pid, pq in state.items():
        for q in pq.incoming:
            (subjects if q.kind == SUBJECT else mentioned)[q.key].add(pid)
            tok_df.update(set(q.key.split()))
    n = _pow2(max(2, len(state)))
    return _Stats({k: frozenset(v) for k, v in subjects.items()}, {k: frozenset(v) for k, v in mentioned.items()},
                  n, {t: math.log(1 + n / _pow2(c)) for t, c in tok_df.items()})


def _best(row: np.ndarray, keys: list[str], take: int) -> tuple[tuple[str, float], ...]:
    """The ``take`` best (key, cosine) of one row of similarities, by (-cosine, key): exact under
    ties at the cut, whatever order the row's keys come in."""
    if take <= 0:
        return ()
    if take < len(keys):
        kth = np.partition(row, len(keys) - take)[len(keys) - take]
        idx = np.nonzero(row >= kth)[0]
    else:
        idx = np.arange(len(keys))
    picked = sorted(((keys[i], float(row[i])) for i in idx.tolist()), key=lambda x: (-x[1], x[0]))
    return tuple(picked[:take])
