"""MIRAGE metrics against a hand-labelled table; the four partition the questions; a protocol run."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from omegaconf import DictConfig

from experiments.mirage import MirageRow, em_label, mirage_category, mirage_metrics
from experiments.run import run_experiment
from tgrag.kernel.errors import ConfigError

# (base, oracle, mixed) -> category, labelled by hand from the definitions:
# NV: m=0 & o=1, CA: m=1 & o=1, CI: b=0 & o=0, CM: b=1 & o=0
HAND = [
    ("q1", 0, 1, 0, "nv"), ("q2", 1, 1, 0, "nv"), ("q3", 0, 1, 1, "ca"), ("q4", 1, 1, 1, "ca"),
    ("q5", 0, 0, 0, "ci"), ("q6", 0, 0, 1, "ci"), ("q7", 1, 0, 0, "cm"), ("q8", 1, 0, 1, "cm"),
    ("q9", 0, 1, 1, "ca"), ("q10", 0, 0, 0, "ci"),
]


def test_metrics_match_a_hand_labelled_table():
    rows = [MirageRow(q, b, o, m) for q, b, o, m, _ in HAND]
    assert [r.category for r in rows] == [c for *_, c in HAND]
    got = mirage_metrics(rows)
    assert got["n"] == 10
    assert got["counts"] == {"nv": 2, "ca": 3, "ci": 3, "cm": 2}
    assert (got["nv"], got["ca"], got["ci"], got["cm"]) == pytest.approx((0.2, 0.3, 0.3, 0.2))
    assert got["score"] == pytest.approx(0.3 - 0.2 - 0.3 - 0.2)
    assert got["label_counts"]["0_1_1"] == 2 and got["label_counts"]["1_0_0"] == 1  # keys: base_mixed_oracle
    assert sum(got["label_counts"].values()) == 10
    assert got["em"] == pytest.approx({"base": 0.4, "oracle": 0.5, "mixed": 0.5})
    assert mirage_metrics([])["n"] == 0


def test_the_four_metrics_partition_the_questions():
    triples = list(itertools.product((0, 1), repeat=3))
    for b, o, m in triples:  # exactly one definition holds for every label triple
        holds = [m == 0 and o == 1, m == 1 and o == 1, b == 0 and o == 0, b == 1 and o == 0]
        assert sum(holds) == 1
        assert ("nv", "ca", "ci", "cm")[holds.index(True)] == mirage_category(b, o, m)
    got = mirage_metrics([MirageRow(str(i), b, o, m) for i, (b, o, m) in enumerate(triples * 3)])
    assert sum(got["counts"].values()) == got["n"] == 24
    assert got["nv"] + got["ca"] + got["ci"] + got["cm"] == pytest.approx(1.0)


def test_em_label_loose_and_strict():
    assert em_label("It was Mara Ellison.", ["Mara Ellison"]) == 1
    assert em_label("It was Mara Ellison.", ["Mara Ellison"], mode="strict") == 0
    assert em_label("the Mara Ellison", ["Mara Ellison"], mode="strict") == 1  # articles normalised away
    assert em_label("", ["x"]) == 0 and em_label(None, ["x"]) == 0
    assert em_label("Tobias", ["Tobias Renwick"]) == 0
    with pytest.raises(ConfigError):
        em_label("a", ["a"], mode="fuzzy")


def test_mirage_protocol_run(make_cfg: Callable[[Sequence[str]], DictConfig], env: Path) -> None:
    cfg = make_cfg(["protocol=mirage", "llm=scripted", "llm.default='Answer: Mara Ellison'",
                    "embedder=hashing", "dataset=demo", "dataset.limit=null", "index.show_progress=false"])
    out = env / "mirage"
    result = run_experiment(cfg, out)
    mir = result["mirage"]
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert mir["n"] == len(rows) > 3 and sum(mir["counts"].values()) == mir["n"]
    mara = [r for r in rows if r["gold"] == ["Mara Ellison"]]
    assert mara and all((r["base"], r["oracle"]) == (1, 1) for r in mara)  # the oracle read the gold passages
    assert mir["counts"]["ci"] == sum(r["oracle"] == 0 for r in rows) == len(rows) - len(mara)
    assert json.loads((out / "metrics.json").read_text())["mirage"]["counts"] == mir["counts"]
    report = (out / "report.md").read_text()
    assert "noise vulnerability" in report and (out / "plots" / "mirage.png").exists()
