"""Training data: the pooled corpus as passages, a stable question split, and training examples.

- :class:`Corpus`: the passages of one or more sets' documents, chunked and embedded-as exactly as
  the index chunks and embeds them (``tgrag.ingest.passages_of`` / ``passage_text``);
- :func:`split_of`: train / dev / test by a salted sha256 of the question id, the same on every
  run and machine, so an evaluation split never holds a training question;
- :func:`labelled_examples` (source a): a question with the passages of its supporting documents;
- :func:`pseudo_query_examples` (source b): the passage graph's LLM-free in-coming pseudo-queries
  (``graph_index.passage_graph.EntityPseudoQueryGenerator``: "Who or what is <title>?", and with a
  knowledge graph "What is the <predicate> of <subject>?" per fact) paired with their passages,
  plus :func:`kg_chain_examples`, two-hop questions templated from chained KG facts.

Data is read from the shared folders by path and never copied.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from experiments.datasets import QAExample, demo_root, load_dataset
from graph_index.passage_graph import MENTION, SUBJECT, EntityPseudoQueryGenerator
from tgrag.ingest import passage_text, passages_of
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.protocols import GraphStore
from tgrag.kernel.records import Document, Fact, Passage

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True, slots=True)
class SplitSpec:
    """Fractions of dev and test questions (the rest trains) and the hash salt."""

    dev: float = 0.2
    test: float = 0.4
    salt: str = "tgrag-train-v1"

    def __post_init__(self) -> None:
        if self.dev < 0 or self.test < 0 or self.dev + self.test >= 1:
            raise ConfigError(f"split fractions need dev, test >= 0 and dev + test < 1, got {self.dev}, {self.test}")


def split_of(qid: str, spec: SplitSpec = SplitSpec()) -> str:
    """'train', 'dev' or 'test' for a question id: a salted sha256 mapped to [0, 1)."""
    u = int(hashlib.sha256(f"{spec.salt}:{qid}".encode()).hexdigest()[:15], 16) / 16**15
    if u < spec.test:
        return "test"
    return "dev" if u < spec.test + spec.dev else "train"


@dataclass(frozen=True, slots=True)
class Example:
    """One training query.

    ``positives`` are passage ids; ``candidates`` / ``targets`` carry the listwise examples
    (REPLUG: log p_LM(y|d,x) per candidate; distillation: the teacher's scores)."""

    qid: str
    query: str
    source: str
    positives: tuple[str, ...] = ()
    negatives: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    targets: tuple[float, ...] = ()

    @property
    def listwise(self) -> bool:
        return bool(self.candidates)


@dataclass
class Corpus:
    """Passages by id, the text each is embedded as, and the document each belongs to."""

    passages: dict[str, Passage] = field(default_factory=dict)

    @classmethod
    def of(cls, documents: Iterable[Document], *, max_words: int = 180) -> Corpus:
        c = cls()
        for d in documents:
            for p in passages_of(d, max_words=max_words):
                c.passages.setdefault(p.passage_id, p)
        return c

    @property
    def ids(self) -> list[str]:
        return list(self.passages)

    def text(self, pid: str) -> str:
        return passage_text(self.passages[pid])

    def texts(self, pids: Sequence[str]) -> list[str]:
        return [self.text(p) for p in pids]

    def doc_of(self, pid: str) -> str:
        return self.passages[pid].doc_id

    def passages_of_docs(self, doc_ids: Iterable[str]) -> tuple[str, ...]:
        wanted = set(doc_ids)
        return tuple(pid for pid, p in self.passages.items() if p.doc_id in wanted)

    def merged(self, other: Corpus) -> Corpus:
        out = Corpus(dict(self.passages))
        for pid, p in other.passages.items():
            out.passages.setdefault(pid, p)
        return out


@dataclass(frozen=True, slots=True)
class SetData:
    """One evaluation set: its name, questions and pooled corpus."""

    name: str
    questions: tuple[QAExample, ...]
    corpus: Corpus

    def split(self, which: str, spec: SplitSpec) -> list[QAExample]:
        """Questions of split ``which`` with at least one supporting document in the corpus."""
        if which not in SPLITS:
            raise ConfigError(f"unknown split {which!r}; choose one of {SPLITS}")
        docs = {p.doc_id for p in self.corpus.passages.values()}
        return [q for q in self.questions if split_of(q.qid, spec) == which and set(q.supporting) & docs]


def load_set(name: str, data_dir: str | Path) -> SetData:
    """A set in the shared format (``<data_dir>/<name>``), or ``demo`` (the package's demo set)."""
    if name == "demo":
        ds = load_dataset(demo_root(), name="demo", corpus_files=("docs.jsonl",))
    else:
        ds = load_dataset(Path(data_dir) / name, name=name)
    return SetData(name, ds.questions, Corpus.of(ds.documents))


def labelled_examples(sets: Sequence[SetData], spec: SplitSpec, *, split: str = "train") -> list[Example]:
    """Source (a): each ``split`` question with the passages of its supporting documents."""
    out = []
    for s in sets:
        for q in s.split(split, spec):
            positives = s.corpus.passages_of_docs(q.supporting)
            if positives and not q.unanswerable:
                out.append(Example(f"{s.name}:{q.qid}", q.question, f"labelled:{s.name}", positives,
                                   answers=q.answers))
    return out


def pseudo_query_examples(corpus: Corpus, *, graph: GraphStore | None = None,
                          kinds: Sequence[str] = (SUBJECT,), max_examples: int | None = None,
                          max_positives: int = 3) -> list[Example]:
    """Source (b): the passage graph's in-coming pseudo-queries, each with the passages it comes from.

    ``kinds``: ``subject`` ("Who or what is <title>?", and with ``graph`` one "What is the
    <predicate> of <subject>?" per KG fact stated by the passage) and/or ``mention`` ("What else is
    known about <name>?"). A query text several passages share has them all as positives; one
    shared by more than ``max_positives`` passages says too little to train on and is left out.
    ``max_examples`` keeps a deterministic subset (by hash of the query)."""
    unknown = set(kinds) - {SUBJECT, MENTION}
    if unknown:
        raise ConfigError(f"unknown pseudo-query kinds {sorted(unknown)}; choose from {SUBJECT!r}, {MENTION!r}")
    gen = EntityPseudoQueryGenerator(graph)
    by_text: dict[str, list[str]] = defaultdict(list)
    for pq in gen.generate(list(corpus.passages.values())):
        for q in pq.incoming:
            if q.kind in kinds and pq.passage_id not in by_text[q.text]:
                by_text[q.text].append(pq.passage_id)
    items = sorted((t, tuple(p)) for t, p in by_text.items() if len(p) <= max_positives)
    if max_examples is not None and len(items) > max_examples:
        items = sorted(items, key=lambda it: hashlib.sha256(it[0].encode()).hexdigest())[:max_examples]
        items.sort()
    return [Example(f"pseudo:{hashlib.sha256(t.encode()).hexdigest()[:12]}", t, "pseudo", p) for t, p in items]


def kg_chain_examples(graph: GraphStore, corpus: Corpus, *, max_examples: int | None = None) -> list[Example]:
    """Source (b), multi-hop: "What is the <p2> of the <p1> of <X>?" from facts (X, p1, Y) and
    (Y, p2, Z) whose object and subject are the same entity; positives: both facts' passages."""
    entities = {e.entity_id: e.name for e in graph.entities()}
    facts = [f for f in graph.facts() if f.source_passage_id in corpus.passages]
    by_subject: dict[str, list[Fact]] = defaultdict(list)
    for f in facts:
        by_subject[f.subject].append(f)
    seen: dict[str, tuple[str, ...]] = {}
    for f1 in facts:
        x = entities.get(f1.subject)
        if x is None or not f1.object_is_entity:
            continue
        for f2 in by_subject.get(f1.object, ()):
            if f2.source_passage_id == f1.source_passage_id:
                continue
            text = f"What is the {f2.predicate} of the {f1.predicate} of {x}?"
            seen.setdefault(text, (f1.source_passage_id, f2.source_passage_id))
    items = sorted(seen.items())
    if max_examples is not None and len(items) > max_examples:
        items = sorted(sorted(items, key=lambda it: hashlib.sha256(it[0].encode()).hexdigest())[:max_examples])
    return [Example(f"kg:{hashlib.sha256(t.encode()).hexdigest()[:12]}", t, "kg_chain", p) for t, p in items]
