"""Dense supporting-document Recall@k of a bi-encoder on a question split of a set's pooled corpus.

The ranking is exact inner product over every passage of the corpus (what the index's FAISS flat
index returns), read as document ids (a document's passages collapse to its best), as
``bench/retrieval.py`` reads it. Recall@k: the fraction of a question's supporting documents in the
top k distinct documents, averaged over the questions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from experiments.training.data import SetData, SplitSpec
from experiments.training.encoder import BiEncoder


def recall_at(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    gold_set = set(gold)
    return len(set(ranked[:k]) & gold_set) / len(gold_set) if gold_set else 0.0


def ranked_documents(query_vecs: np.ndarray, passage_vecs: np.ndarray, doc_of: Sequence[str], depth: int
                     ) -> list[list[str]]:
    sims = query_vecs @ passage_vecs.T
    out = []
    for row in np.argsort(-sims, axis=1, kind="stable"):
        docs: list[str] = []
        for i in row:
            d = doc_of[int(i)]
            if d not in docs:
                docs.append(d)
                if len(docs) >= depth:
                    break
        out.append(docs)
    return out


def dense_recall(model: BiEncoder, data: SetData, spec: SplitSpec, *, split: str = "test",
                 ks: Sequence[int] = (2, 5), passage_vecs: np.ndarray | None = None, show_progress: bool = False
                 ) -> dict[str, float | int]:
    """{"recall@k": %, ..., "questions": n} on ``split`` of ``data``."""
    questions = data.split(split, spec)
    docs = {p.doc_id for p in data.corpus.passages.values()}
    if not questions:
        return {**{f"recall@{k}": 0.0 for k in ks}, "questions": 0}
    if passage_vecs is None:
        passage_vecs = model.encode(data.corpus.texts(data.corpus.ids), kind="passage", show_progress=show_progress)
    qvecs = model.encode([q.question for q in questions], kind="query")
    ranked = ranked_documents(qvecs, passage_vecs, [data.corpus.doc_of(p) for p in data.corpus.ids], max(ks))
    out: dict[str, float | int] = {}
    for k in ks:
        vals = [recall_at(r, [s for s in q.supporting if s in docs], k) for r, q in zip(ranked, questions, strict=True)]
        out[f"recall@{k}"] = round(100 * float(np.mean(vals)), 2)
    out["questions"] = len(questions)
    return out
