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


def test_read_recall_counts_the_documents_of_the_top_k_passages() -> None:
    ev = [Evidence(EvidenceKind.PASSAGE, ref, "t", 0.5, doc_id=doc) for ref, doc in
          [("a#0", "A"), ("a#1", "A"), ("b#0", "B"), ("c#0", "C")]]
    assert upr.read_recall(ev, ["A", "C"], 2) == 0.5  # top 2 passages are both A's
    assert upr.read_recall(ev, ["A", "C"], 4) == 1.0


def test_choose_weight_picks_on_the_tune_half_and_reports_both() -> None:
    rows = [{"half": "tune", "fused_recall": {"1.0": 0.0, "0.5": 1.0, "0.0": 1.0}},
            {"half": "tune", "fused_recall": {"1.0": 0.5, "0.5": 0.5, "0.0": 0.0}},
            {"half": "report", "fused_recall": {"1.0": 1.0, "0.5": 0.0, "0.0": 0.0}}]
    out = upr.choose_weight(rows, [1.0, 0.5, 0.0])
    assert out["chosen_on_tune"] == 0.5  # 0.75 mean on tune; the report half does not move it
    assert out["halves"]["tune"] == {"questions": 2, "recall_by_weight": {"1.0": 0.25, "0.5": 0.75, "0.0": 0.5}}
    assert out["halves"]["report"]["recall_by_weight"] == {"1.0": 1.0, "0.5": 0.0, "0.0": 0.0}


def test_choose_weight_breaks_ties_towards_the_larger_weight() -> None:
    rows = [{"half": "tune", "fused_recall": {"1.0": 0.5, "0.5": 0.5}}]
    assert upr.choose_weight(rows, [0.5, 1.0])["chosen_on_tune"] == 1.0
