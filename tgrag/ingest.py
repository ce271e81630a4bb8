"""Documents in: JSONL loading with precise errors, validation, and chunking into passages."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tgrag.kernel.errors import InputError
from tgrag.kernel.records import Document, Passage
from tgrag.kernel.timeparse import parse_document_date

log = logging.getLogger(__name__)

_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
DATE_KEYS = ("date", "timestamp", "published", "time")


def split_sentences(text: str) -> list[str]:
    """Cheap sentence split (punctuation + capital); good enough for chunk boundaries."""
    return [s.strip() for s in _SENT_SPLIT.split(text.strip()) if s.strip()]


def chunk_text(text: str, *, max_words: int = 180, overlap_sentences: int = 1) -> list[str]:
    """Pack whole sentences into chunks of at most ``max_words`` words (a longer sentence is
    split on words), repeating ``overlap_sentences`` sentences between consecutive chunks."""
    sentences: list[str] = []
    for s in split_sentences(text):
        words = s.split()
        while len(words) > max_words:
            sentences.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if words:
            sentences.append(" ".join(words))
    chunks: list[str] = []
    cur: list[str] = []
    n = 0
    for s in sentences:
        w = len(s.split())
        if cur and n + w > max_words:
            chunks.append(" ".join(cur))
            cur = cur[-overlap_sentences:] if overlap_sentences else []
            n = sum(len(x.split()) for x in cur)
            if n + w > max_words:
                cur, n = [], 0
        cur.append(s)
        n += w
    if cur:
        chunks.append(" ".join(cur))
    return chunks


def passages_of(doc: Document, *, max_words: int = 180) -> list[Passage]:
    return [Passage.make(doc, chunk, i) for i, chunk in enumerate(chunk_text(doc.text, max_words=max_words))]


def document_from_row(row: Mapping[str, Any], *, path: str = "<input>", line: int | None = None) -> Document:
    """Validate one JSON object (``id``/``doc_id``, ``text``, ``title``, ``date``/``timestamp``)."""
    if not isinstance(row, Mapping):
        raise InputError(f"expected a JSON object, got {type(row).__name__}", path=path, line=line)
    doc_id = row.get("id", row.get("doc_id"))
    doc_id = str(doc_id) if doc_id not in (None, "") else None
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputError("document text is empty or missing", path=path, line=line, doc_id=doc_id)
    date = None
    for key in DATE_KEYS:
        value = row.get(key)
        if value in (None, ""):
            continue
        date = parse_document_date(value)
        if date is None:
            raise InputError(f"unparseable {key} {value!r}", path=path, line=line, doc_id=doc_id)
        break
    meta = {k: v for k, v in row.items() if k not in ("id", "doc_id", "text", "title", *DATE_KEYS)}
    doc = Document.make(text.strip(), date=date, title=str(row.get("title") or ""), doc_id=doc_id, meta=meta)
    if date is None:  # the load's one summary line is warn_undated's; this detail is for debugging
        where = f"{path}:{line}" if line is not None else path
        log.debug("%s: document %r has no date; indexed with date None (excluded by as_of/between scopes)",
                  where, doc.doc_id)
    return doc


def warn_undated(docs: Sequence[Document], where: str, *, show: int = 5) -> int:
    """One warning line for a load's undated documents: how many, and the first ``show`` ids (each
    document's own line is at DEBUG level). Returns the count."""
    undated = [d.doc_id for d in docs if d.date is None]
    if undated:
        first = ", ".join(repr(i) for i in undated[:show]) + (", ..." if len(undated) > show else "")
        log.warning("%s: %d of %d documents have no date; indexed with date None (excluded by as_of/between "
                    "scopes): %s", where, len(undated), len(docs), first)
    return len(undated)


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for each non-blank line; malformed JSON → InputError(file:line)."""
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", path=str(p))
    with open(p, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                yield lineno, json.loads(raw)
            except json.JSONDecodeError as e:
                raise InputError(f"malformed JSON ({e.msg} at column {e.colno})", path=str(p), line=lineno) from e


def load_jsonl_documents(path: str | Path, *, warn: bool = True) -> list[Document]:
    """Every document of a JSONL file, validated; errors name the file and line. Undated documents
    get one summary warning (``warn``; off when the caller summarises several files)."""
    docs = [document_from_row(row, path=str(path), line=lineno) for lineno, row in iter_jsonl(path)]
    seen: dict[str, int] = {}
    for i, d in enumerate(docs):
        if d.doc_id in seen and docs[seen[d.doc_id]].content_hash != d.content_hash:
            raise InputError("duplicate document id with different content", path=str(path), doc_id=d.doc_id)
        seen[d.doc_id] = i
    if warn:
        warn_undated(docs, str(path))
    return docs


def load_documents(paths: Iterable[str | Path]) -> list[Document]:
    """The documents of JSONL files and directories of them; one undated-documents warning for all."""
    out: list[Document] = []
    names: list[str] = []
    for p in paths:
        p = Path(p)
        names.append(str(p))
        if p.is_dir():
            for f in sorted(p.glob("*.jsonl")):
                out.extend(load_jsonl_documents(f, warn=False))
        else:
            out.extend(load_jsonl_documents(p, warn=False))
    warn_undated(out, ", ".join(names))
    return out


def passage_text(p: Passage) -> str:
    """What a passage is embedded as: its title (often the entity it is about) and its text."""
    return f"{p.title}\n{p.text}" if p.title else p.text
