"""bench/generators.py: the paired comparison against concat."""

from __future__ import annotations

from tests.bench_scripts import load_bench

gen = load_bench("generators")


def _rows(ems: list[float]) -> list[dict[str, object]]:
    return [{"id": f"q{i}", "em": em} for i, em in enumerate(ems)]


def test_paired_counts_wins_and_losses_question_by_question() -> None:
    result = {"datasets": {"s": {"questions": {
        "concat": _rows([1, 1, 0, 0, 0]),
        "rag_token": _rows([1, 0, 1, 1, 0]),
    }}}}
    table = gen.paired(result)
    row = [line for line in table.splitlines() if "rag_token" in line][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    # 2 wins (q2, q3), 1 loss (q1); sign test over 3 differing questions: p = 1.0
    assert cells[:6] == ["s", "rag_token", "5", "2", "1", "1.000"]


def test_paired_skips_questions_the_base_did_not_answer() -> None:
    result = {"datasets": {"s": {"questions": {
        "concat": _rows([0]),
        "rag_sequence": _rows([1, 1]),
    }}}}
    row = [line for line in gen.paired(result).splitlines() if "rag_sequence" in line][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:5] == ["1", "1", "0"]
