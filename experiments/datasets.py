"""Evaluation data: loaders for the shared JSONL format and for the project's demo set.

Format (one folder per set, see ``../shared/data/README.md``)::

    <root>/questions.jsonl  id, question, answers[], supporting[], question_date, time_scope, type, meta
    <root>/corpus.jsonl     id, title, text, date / timestamp (+ meta)

Questions become :class:`QAExample` records; corpus rows become kernel ``Document`` records through
``tgrag.ingest`` (so dates are parsed exactly as the library parses them). ``limit`` samples
questions deterministically (seeded), and the corpus can be sliced by its time field (the update
protocol indexes ECT-QA Q1-Q3 first, then inserts Q4).
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tgrag.ingest import DATE_KEYS, document_from_row, iter_jsonl, warn_undated
from tgrag.kernel.errors import InputError, TimeError
from tgrag.kernel.records import Document
from tgrag.kernel.temporal import TimeInterval
from tgrag.kernel.timeparse import as_of_scope, between_scope, parse_document_date

log = logging.getLogger(__name__)
UNANSWERABLE = "unanswerable"
_HOPS_IN_TYPE = re.compile(r"^(\d+)hop")


@dataclass(frozen=True, slots=True)
class QAExample:
    """One evaluation question with its gold answers and evidence."""

    qid: str
    question: str
    answers: tuple[str, ...]
    supporting: tuple[str, ...] = ()  # document ids holding the evidence
    question_date: TimeInterval | None = None
    time_scope: TimeInterval | None = None  # hull of the set's time scope labels
    time_scope_labels: tuple[str, ...] = ()
    qtype: str = ""
    hops: int = 0
    unanswerable: bool = False
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.qid, "question": self.question, "answers": list(self.answers),
                "supporting": list(self.supporting),
                "question_date": self.question_date.to_dict() if self.question_date else None,
                "time_scope": self.time_scope.to_dict() if self.time_scope else None,
                "time_scope_labels": list(self.time_scope_labels), "type": self.qtype,
                "hops": self.hops, "unanswerable": self.unanswerable}


@dataclass(frozen=True, slots=True)
class QADataset:
    """Questions plus the corpus they are asked over."""

    name: str
    questions: tuple[QAExample, ...]
    documents: tuple[Document, ...]
    corpus_paths: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # corpus rows left out (skip_invalid), each with file:line and reason

    @property
    def temporal(self) -> bool:
        return any(q.question_date or q.time_scope or q.unanswerable for q in self.questions)


# ---------------------------------------------------------------------------------------------
def _parse_time(value: Any, *, path: str, line: int, qid: str, what: str) -> TimeInterval | None:
    if value in (None, "", []):
        return None
    iv = parse_document_date(str(value))
    if iv is None:
        raise InputError(f"unparseable {what} {value!r}", path=path, line=line, doc_id=qid)
    return iv


def _hull(intervals: Sequence[TimeInterval]) -> TimeInterval | None:
    if not intervals:
        return None
    starts = [iv.start for iv in intervals]
    ends = [iv.end for iv in intervals]
    start = None if any(s is None for s in starts) else min(s for s in starts if s is not None)
    end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
    grans = {iv.granularity for iv in intervals}
    gran = grans.pop() if len(grans) == 1 else max((iv.granularity for iv in intervals), key=lambda g: g.rank)
    return TimeInterval(start, end, gran)


def _time_scope(raw: Any, *, path: str, line: int, qid: str) -> tuple[list[str], TimeInterval | None]:
    """The gold time scope: a label list (hull taken: ECT-QA, MenatQA), one label, or the demo set's
    ``{"as_of": d}`` / ``{"between": [a, b]}``."""
    if raw in (None, "", [], {}):
        return [], None
    try:
        if isinstance(raw, Mapping):
            if "as_of" in raw:
                return [f"as_of {raw['as_of']}"], as_of_scope(str(raw["as_of"]))
            if "between" in raw and len(raw["between"]) == 2:
                a, b = raw["between"]
                return [f"between {a} {b}"], between_scope(str(a), str(b))
            raise InputError(f"time_scope needs as_of or between, got {dict(raw)!r}", path=path, line=line,
                             doc_id=qid)
    except TimeError as e:
        raise InputError(f"unparseable time_scope {raw!r}: {e}", path=path, line=line, doc_id=qid) from e
    labels = [raw] if isinstance(raw, str) else [str(s) for s in raw]
    ivs = [iv for s in labels if (iv := _parse_time(s, path=path, line=line, qid=qid, what="time_scope"))]
    return labels, _hull(ivs)


def _hops(row: Mapping[str, Any]) -> int:
    meta = row.get("meta") or {}
    if isinstance(meta.get("num_hops"), int):
        return int(meta["num_hops"])
    decomposition = meta.get("question_decomposition")
    if isinstance(decomposition, list) and decomposition:
        return len(decomposition)
    m = _HOPS_IN_TYPE.match(str(row.get("type") or ""))
    if m:
        return int(m.group(1))
    return len(row.get("supporting") or ())


def is_unanswerable(row: Mapping[str, Any]) -> bool:
    """ECT-QA marks them with answers == ["unanswerable"] and reasoning_type "unanswerable|…", the demo
    set with ``answers == []``, TimeQA with ``answers == [""]`` (no value in the asked period),
    MuSiQue-style sets with ``meta.answerable == False``."""
    answers = [str(a).strip().lower() for a in row.get("answers") or ()]
    meta = row.get("meta") or {}
    return (answers == [UNANSWERABLE] or not any(answers) or str(meta.get("reasoning_type", "")).startswith(UNANSWERABLE)
            or meta.get("answerable") is False)


def example_from_row(row: Any, *, path: str = "<input>", line: int = 0) -> QAExample:
    if not isinstance(row, Mapping):
        raise InputError(f"expected a JSON object, got {type(row).__name__}", path=path, line=line)
    qid = str(row.get("id") or row.get("qid") or "")
    question = row.get("question")
    if not qid or not isinstance(question, str) or not question.strip():
        raise InputError("question needs a non-empty id and question", path=path, line=line,
                         doc_id=qid or None)
    answers = row.get("answers", row.get("answer"))
    if isinstance(answers, str):
        answers = [answers]
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise InputError("answers must be a list of strings", path=path, line=line, doc_id=qid)
    labels, scope = _time_scope(row.get("time_scope"), path=path, line=line, qid=qid)
    return QAExample(
        qid=qid, question=question.strip(), answers=tuple(answers),
        supporting=tuple(str(s) for s in row.get("supporting") or ()),
        question_date=_parse_time(row.get("question_date"), path=path, line=line, qid=qid,
                                  what="question_date"),
        time_scope=scope, time_scope_labels=tuple(labels),
        qtype=str(row.get("type") or ""), hops=_hops(row), unanswerable=is_unanswerable(row),
        meta=dict(row.get("meta") or {}))


def load_questions(path: str | Path) -> list[QAExample]:
    out = [example_from_row(row, path=str(path), line=lineno) for lineno, row in iter_jsonl(path)]
    seen: set[str] = set()
    for ex in out:
        if ex.qid in seen:
            raise InputError("duplicate question id", path=str(path), doc_id=ex.qid)
        seen.add(ex.qid)
    return out


def load_corpus(path: str | Path, *, date_field: str | None = None, skip_invalid: bool = False,
                skipped: list[str] | None = None) -> list[Document]:
    """Corpus rows as Documents. ``date_field`` picks which time key dates a document (ECT-QA has
    both the fiscal ``timestamp`` and the call ``date``; questions ask about the fiscal quarter);
    the other time keys are kept in ``meta["alt_dates"]``. With ``skip_invalid`` a row that fails
    validation (e.g. empty text) is logged and appended to ``skipped`` instead of raising."""
    docs: list[Document] = []
    for lineno, row in iter_jsonl(path):
        if date_field is not None and isinstance(row, Mapping):
            if date_field not in row:
                raise InputError(f"missing date field {date_field!r}", path=str(path), line=lineno,
                                 doc_id=str(row.get("id") or "") or None)
            row = dict(row)
            alt = {k: row.pop(k) for k in DATE_KEYS if k in row and k != date_field}
            if alt:
                row["alt_dates"] = alt
            row = {**{k: v for k, v in row.items() if k != date_field}, "date": row[date_field]}
        try:
            docs.append(document_from_row(row, path=str(path), line=lineno))
        except InputError as e:
            if not skip_invalid:
                raise
            log.warning("skipped: %s", e)
            if skipped is not None:
                skipped.append(str(e))
    warn_undated(docs, str(path))
    return docs


def sample(items: Sequence[Any], limit: int | None, seed: int) -> list[Any]:
    """A deterministic sample of ``limit`` items (order of the file kept); all when limit is None."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 0:
        raise InputError(f"dataset.limit must be >= 0, got {limit}")
    chosen = set(random.Random(seed).sample(range(len(items)), limit))
    return [it for i, it in enumerate(items) if i in chosen]


def sample_balanced(items: Sequence[QAExample], limit: int | None, seed: int) -> list[QAExample]:
    """Half answerable, half unanswerable (as far as each stratum allows), file order kept."""
    if limit is None or limit >= len(items):
        return list(items)
    una = [q for q in items if q.unanswerable]
    ans = [q for q in items if not q.unanswerable]
    n_una = min(len(una), limit // 2)
    n_ans = min(len(ans), limit - n_una)
    n_una = min(len(una), limit - n_ans)
    chosen = {q.qid for q in sample(ans, n_ans, seed) + sample(una, n_una, seed)}
    return [q for q in items if q.qid in chosen]


def in_slice(doc: Document, labels: Sequence[str] | None) -> bool:
    """True when the document's date overlaps one of the time labels (None = no slicing)."""
    if labels is None:
        return True
    if doc.date is None:
        return False
    return any(doc.date.overlaps(TimeInterval.from_label(lab.upper())) for lab in labels)


def split_label_docs(docs: Sequence[Document], labels: Sequence[str]) -> tuple[list[Document], list[Document]]:
    """(documents dated in one of ``labels``, the others)."""
    inside = [d for d in docs if in_slice(d, labels)]
    ids = {d.doc_id for d in inside}
    return inside, [d for d in docs if d.doc_id not in ids]


def load_dataset(root: str | Path, *, name: str | None = None, questions_file: str = "questions.jsonl",
                 corpus_files: Sequence[str] = ("corpus.jsonl",), date_field: str | None = None,
                 limit: int | None = None, seed: int = 0, question_filter: Mapping[str, Any] | None = None,
                 corpus_slice: Sequence[str] | None = None, skip_invalid: bool = False,
                 balance_unanswerable: bool = False) -> QADataset:
    """Load a folder in the shared format.

    ``question_filter`` keeps questions whose ``meta`` (or top-level field) equals each given value,
    e.g. ``{"split": "local_new"}``; it applies before sampling. ``corpus_slice`` keeps documents
    dated in one of the given labels (``["2024-Q1", "2024-Q2"]``). ``skip_invalid`` leaves out (and
    records in ``skipped``) corpus rows that fail validation instead of raising.
    ``balance_unanswerable`` samples half answerable, half unanswerable questions.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("dataset folder not found", path=str(root))
    questions = load_questions(root / questions_file)
    for key, want in (question_filter or {}).items():
        questions = [q for q in questions if q.meta.get(key, getattr(q, key, None)) == want]
    docs: list[Document] = []
    paths: list[str] = []
    skipped: list[str] = []
    for fname in corpus_files:
        p = root / fname
        paths.append(str(p))
        docs.extend(d for d in load_corpus(p, date_field=date_field, skip_invalid=skip_invalid, skipped=skipped)
                    if in_slice(d, corpus_slice))
    chosen = sample_balanced(questions, limit, seed) if balance_unanswerable else sample(questions, limit, seed)
    return QADataset(name or root.name, tuple(chosen), tuple(docs), tuple(paths),
                     tuple(skipped))


def demo_root() -> Path:
    """The project's demo set shipped inside the package (docs.jsonl + questions.jsonl)."""
    import tgrag

    return Path(tgrag.__file__).parent / "demo_data"


def load_demo(*, limit: int | None = None, seed: int = 0) -> QADataset:
    return load_dataset(demo_root(), name="demo", corpus_files=("docs.jsonl",), limit=limit, seed=seed)
