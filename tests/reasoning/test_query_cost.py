"""The query path reads O(k) document rows, not O(corpus): the same questions over an index of N
and of 4N passages read the same number of rows through a counting DocumentStore (issue 14).

Fakes at the model boundary only (hashing embedder, scripted LLM); the real stores, spaCy
extraction, passage graph and reasoning loop run underneath."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from reasoning.loop import TemporalReasoner
from tgrag.facade import TemporalGraphRAG
from tgrag.kernel import Document, Passage, TimeInterval
from tgrag.kernel.protocols import DocumentStore
from tgrag.testing import HashingEmbedder, ScriptedLLM

QUESTION = "Who was the chief executive of Veltrane Robotics in June 2020?"  # the KG answers it
READ = "What happened at the board of Veltrane Robotics in June 2020?"  # retrieval and the reader
IN_SCOPE = [  # the only documents dated inside the question's scope, in every corpus
    ("Veltrane June", "2020-06-03", "Mara Ellison was the chief executive of Veltrane Robotics."),
    ("Veltrane board", "2020-06-17", "The board of Veltrane Robotics met in Harrowgate."),
    ("Quillfish deal", "2020-06-25", "Veltrane Robotics bought Quillfish Labs for its drones."),
]
FILLER = ["Harrowgate harbor reopened after repairs.", "The Ostmark rail line carried coal to the coast.",
          "Lindqvist Mills sold paper to printers in the north.", "A storm closed the Varden pass for a week."]


class CountingDocs:
    """A DocumentStore that counts the rows (documents, passages, ids) its reads return."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.rows = 0

    def _n(self, items: Any) -> Any:
        self.rows += len(items)
        return items

    def put(self, documents: Sequence[Document], passages: Sequence[Passage]) -> None:
        self.inner.put(documents, passages)

    def get_document(self, doc_id: str) -> Document | None:
        self.rows += 1
        return self.inner.get_document(doc_id)

    def get_passages(self, passage_ids: Sequence[str]) -> list[Passage]:
        return self._n(self.inner.get_passages(passage_ids))

    def passages_of(self, doc_id: str) -> list[Passage]:
        return self._n(self.inner.passages_of(doc_id))

    def delete_document(self, doc_id: str) -> list[str]:
        return self.inner.delete_document(doc_id)

    def iter_passages(self, *, during: TimeInterval | None = None) -> Iterator[Passage]:
        for p in self.inner.iter_passages(during=during):
            self.rows += 1
            yield p

    def passage_ids_in(self, scope: TimeInterval, *, keep_undated: bool = False, limit: int | None = None
                       ) -> set[str]:
        return self._n(self.inner.passage_ids_in(scope, keep_undated=keep_undated, limit=limit))

    def scope_excludes(self, scope: TimeInterval, *, keep_undated: bool = False) -> bool:
        return self.inner.scope_excludes(scope, keep_undated=keep_undated)

    def document_ids(self) -> list[str]:
        return self._n(self.inner.document_ids())

    def passage_ids(self) -> set[str]:
        return self._n(self.inner.passage_ids())

    def count(self) -> tuple[int, int]:
        return self.inner.count()


def _answer_first(req: Any) -> str | None:
    prompt = req.messages[-1].content
    if "Evidence:" not in prompt:
        return None
    return "Answer: " + prompt.split("[1]", 1)[1].split("\n", 1)[0].strip()[:40] + "\nCitations: [1]"


def _rows(n: int) -> list[dict[str, str]]:
    rows = [{"id": f"in{i}", "title": t, "date": d, "text": x} for i, (t, d, x) in enumerate(IN_SCOPE)]
    for i in range(n):  # dated in other years (1900-1999, never 2020), one filler sentence each
        rows.append({"id": f"f{i}", "title": f"Note {i}", "date": f"{1900 + i % 100}-{1 + i % 12:02d}-01",
                     "text": f"{FILLER[i % len(FILLER)]} Ledger entry {i} of Veltrane archives."})
    return rows


def _measure(n: int) -> tuple[int, int, int]:
    """Rows read by (the loop answering QUESTION and READ, retrieval with a caller's scope, the loop
    again after one more insert) over an index of ``n`` filler documents plus the in-scope ones."""
    llm = ScriptedLLM([_answer_first], default='{"subquestions": []}')
    rag = TemporalGraphRAG.open(None, embedder=HashingEmbedder(), llm=llm, show_progress=False)
    rag.insert(_rows(n))
    docs = CountingDocs(rag.docs)
    reasoner = TemporalReasoner.from_parts(docs, rag.vectors, rag.graph, rag.embedder, llm, indexer=rag.indexer,
                                           bm25=rag.bm25)
    reasoner.retrieve_only(QUESTION)  # warm-up: builds the BM25 index once (one full read, per process)
    assert docs.rows >= n
    docs.rows = 0
    kg = reasoner.answer(QUESTION)
    read = reasoner.answer(READ)
    assert kg.text == "Mara Ellison" and "retrieve" in [s.stage for s in read.trace]
    assert {c.doc_id for c in read.citations} <= {f"in{i}" for i in range(3)} and read.citations
    loop_rows, docs.rows = docs.rows, 0
    got = reasoner.retrieve_only("What did Veltrane Robotics buy?", between=("2020-06", "2020-06"))
    assert got and {e.doc_id for e in got} <= {f"in{i}" for i in range(3)}
    scoped_rows, docs.rows = docs.rows, 0
    rag.insert([{"id": "late", "title": "Late note", "date": "1950-05-05", "text": "The pass reopened."}])
    reasoner.answer(READ)  # the insert updated the shared BM25 index: no rebuild, no full read
    return loop_rows, scoped_rows, docs.rows


@pytest.mark.parametrize("n", [40])
def test_query_path_reads_rows_independent_of_corpus_size(n: int) -> None:
    small, large = _measure(n), _measure(4 * n)
    assert large == small, (small, large)
    assert max(small) < n  # a handful of rows (k and the scope's 3 documents), not the corpus
