"""bench/upr_ranks.py: document ranks, named vs bridge documents, and the per-kind summary."""

from __future__ import annotations

from tests.bench_scripts import load_bench
from tgrag.kernel.records import Evidence, EvidenceKind

upr = load_bench("upr_ranks")


def test_doc_ranks_count_documents_by_their_first_passage() -> None:
    ev = [Evidence(EvidenceKind.PASSAGE, ref, "t", 0.5, doc_id=doc) for ref, doc in
          [("a#0", "A"), ("a#1", "A"), ("b#0", "B"), ("c#0", "C")]]
    assert upr.doc_ranks(ev) == {"A": 1, "B": 2, "C": 3}


def test_named_is_the_title_in_the_question() -> None:
    q = "Who is the father of the director of Zorbal Nights?"
    assert upr.is_named("Zorbal Nights#0", q) and upr.is_named("zorbal nights", q)
    assert not upr.is_named("Pal Gabor#0", q)


def test_summary_splits_recall_by_kind() -> None:
    rows = [{"supporting": [{"kind": "named", "walk_rank": 1, "upr_rank": 1},
                            {"kind": "bridge", "walk_rank": 3, "upr_rank": 9}]},
            {"supporting": [{"kind": "named", "walk_rank": 7, "upr_rank": 2},
                            {"kind": "bridge", "walk_rank": None, "upr_rank": None}]}]
    s = upr.summarise(rows, 5)
    assert s["named"] == {"passages": 2, "in_pool": 2, "walk_recall@5": 0.5, "upr_recall@5": 1.0}
    assert s["bridge"] == {"passages": 2, "in_pool": 1, "walk_recall@5": 0.5, "upr_recall@5": 0.0}
