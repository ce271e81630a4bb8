"""Incremental BM25: scores equal bm25s's from-scratch build, and an index updated by inserts and
deletes equals a fresh build over the final corpus."""

from __future__ import annotations

import random

import bm25s
import numpy as np
import pytest

from reasoning.bm25 import BM25Index, passage_tokens
from tgrag.kernel import Document, Passage, TimeInterval

WORDS = [f"w{i}" for i in range(60)] + ["veltrane", "robotics", "chief", "board", "quokka"]
QUERIES = ["veltrane robotics chief", "w1 w2 w3 w1", "quokka board w59", "w7", "nothing-matches-this"]


def corpus(n: int, seed: int, *, tag: str = "") -> list[Passage]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14)))
        doc = Document.make(f"{tag}{i} {text}", date=TimeInterval.from_label(str(2000 + i % 20)),
                            title=rng.choice(["", "Veltrane", "Board"]))
        out.append(Passage.make(doc, doc.text, 0))
    return out


def bm25s_scores(passages: list[Passage], query: str) -> dict[str, float]:
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in passage_tokens(p)] for p in passages]
    ref = bm25s.BM25()
    ref.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
    from reasoning.bm25 import bm25_tokens

    toks = [vocab[t] for t in bm25_tokens(query) if t in vocab]
    if not toks:
        return {}
    scores = ref.get_scores(toks)
    return {p.passage_id: float(s) for p, s in zip(passages, scores, strict=True) if s > 0}


def search(index: BM25Index, query: str) -> list[tuple[str, float]]:
    return [(p.passage_id, s) for s, p in index.search(query)]


@pytest.mark.parametrize("query", QUERIES)
def test_scores_equal_a_bm25s_build(query: str) -> None:
    passages = corpus(300, seed=1)
    index = BM25Index()
    index.build(passages)
    got, want = index.scores(query), bm25s_scores(passages, query)
    assert got.keys() == want.keys()
    assert np.allclose([got[k] for k in want], list(want.values()), rtol=2e-6, atol=0)


def test_insert_then_delete_equals_a_fresh_build() -> None:
    a, b = corpus(2500, seed=2, tag="a"), corpus(1800, seed=3, tag="b")  # enough to merge and compact
    index = BM25Index()
    index.build(a[:10])
    index.update(added=a[10:])
    index.update(added=b)
    gone = [p.passage_id for p in a[::2]] + [p.passage_id for p in b[:1200]]
    index.update(removed=gone[:900])
    index.update(removed=gone[900:])
    replaced = Passage(b[1500].passage_id, b[1500].doc_id, "quokka quokka board", 0, b[1500].date, "Quokka")
    index.update(added=[replaced], removed=["psg:unknown"])
    final = [p for p in a + b if p.passage_id not in set(gone) and p.passage_id != replaced.passage_id]
    final.append(replaced)
    fresh = BM25Index()
    fresh.build(final)
    assert len(index) == len(fresh) == len(final)
    for query in QUERIES:
        assert search(index, query) == search(fresh, query)
        want = bm25s_scores(final, query)
        got = index.scores(query)
        assert got.keys() == want.keys()
        assert np.allclose([got[k] for k in want], list(want.values()), rtol=2e-6, atol=0)
    assert search(index, "quokka")[0][0] == replaced.passage_id


def test_updates_before_the_first_build_are_left_to_it() -> None:
    index = BM25Index()
    index.update(added=corpus(5, seed=4))
    assert not index.built and len(index) == 0 and index.search("w1") == []
    index.build([])
    assert index.built and index.search("w1") == []


def test_ties_follow_the_document_store_order() -> None:
    docs = [Document.make("same words here", title=""), Document.make("same words here ", title="")]
    passages = sorted((Passage.make(d, "same words", 0) for d in docs), key=lambda p: p.doc_id, reverse=True)
    index = BM25Index()
    index.build(passages)
    ranked = index.search("same words")
    assert ranked[0][0] == ranked[1][0]
    assert [p.doc_id for _, p in ranked] == sorted(p.doc_id for p in passages)
