"""bench/mirage.py gathers existing MIRAGE run directories without running them again."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from experiments.mirage import MirageRow, mirage_metrics
from tests.bench_scripts import load_bench


def _bench() -> ModuleType:
    return load_bench("mirage")


def _write_run(run_dir: Path, rows: list[MirageRow]) -> dict:
    metrics = {"run": {"llm": "qwen-test", "seconds_total": 12.5, "machine_at_end": {"commit": "abc"}},
               "mirage": mirage_metrics(rows), "llm_cache": {"hits": 1}}
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    return metrics


def test_gathers_existing_runs_without_rerunning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _bench()
    runs = tmp_path / "runs"
    # b, o, m: CA, NV, CI, CM
    rows = [MirageRow("q1", 0, 1, 1), MirageRow("q2", 1, 1, 0), MirageRow("q3", 0, 0, 0), MirageRow("q4", 1, 0, 1)]
    _write_run(runs / "musique_qwen05", rows)
    _write_run(runs / "hotpotqa_qwen05", rows[:2])

    real_run = bench.subprocess.run

    def no_rerun(cmd: list[str], *args: object, **kwargs: object) -> object:
        assert "experiments.run" not in cmd, "a run with metrics.json must not be repeated"
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(bench.subprocess, "run", no_rerun)
    out = tmp_path / "mirage.json"
    bench.main(["--datasets", "musique", "hotpotqa", "--readers", "qwen05", "--runs", str(runs), "--out", str(out)])
    got = json.loads(out.read_text(encoding="utf-8"))["results"]
    assert set(got) == {"musique/qwen05", "hotpotqa/qwen05"}
    m = got["musique/qwen05"]
    assert (m["nv"], m["ca"], m["ci"], m["cm"]) == (0.25, 0.25, 0.25, 0.25)
    assert m["n"] == 4 and m["counts"] == {"nv": 1, "ca": 1, "ci": 1, "cm": 1}
    assert got["hotpotqa/qwen05"]["ca"] == 0.5 and got["hotpotqa/qwen05"]["nv"] == 0.5
    assert (runs / "mirage.png").exists()
