"""A sweep from one command, run serially and on Hydra's joblib launcher (2 jobs in parallel
processes): the aggregate tables agree, and the parallel jobs built the shared index once and
shared the LLM cache (fakes at the model boundary, the demo corpus)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from experiments.aggregate import aggregate

ROOT = Path(__file__).resolve().parents[2]
SWEEP = ["-m", "method=dense,bm25,naive_rag", "llm=scripted", "embedder=hashing", "dataset=demo",
         "dataset.limit=3", "index.show_progress=false", "eval.ks=[1,2,5]", "eval.k=5"]
TIMING = {"s/query", "index build s", "index reused", "cached calls"}  # how, not what: differ by run


def _sweep(tmp: Path, name: str, *launcher: str) -> tuple[list[dict[str, str]], list[dict]]:
    env = {**os.environ, "TGRAG_ROOT": str(ROOT), "TGRAG_EXPERIMENT_CACHE": str(tmp / f"cache-{name}")}
    out = tmp / name
    proc = subprocess.run([sys.executable, "-m", "experiments.run", *SWEEP, *launcher, f"hydra.sweep.dir={out}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    with open(aggregate(out)["csv"], newline="") as fh:
        table = [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(fh)]
    runs = [{**json.loads(p.read_text()), "_dir": str(p.parent)} for p in sorted(out.rglob("metrics.json"))]
    return table, runs


def test_joblib_sweep_matches_the_serial_sweep(tmp_path: Path) -> None:
    serial, serial_runs = _sweep(tmp_path, "serial")
    parallel, runs = _sweep(tmp_path, "parallel", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert [r["method"] for r in serial] == ["bm25", "dense", "naive_rag"]
    assert parallel == serial
    launchers = {(Path(r["_dir"]) / ".hydra" / "hydra.yaml").read_text().split("launcher:", 1)[1].split("\n")[1]
                 for r in runs}
    assert launchers == {"    _target_: hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"}
    for group in (serial_runs, runs):  # one build per dataset, re-used by the other jobs
        assert sorted(r["run"]["index"]["reused"] for r in group) == [False, True, True]
        assert len({r["run"]["index"]["path"] for r in group}) == 1
    reader = next(r for r in runs if r["run"]["method"] == "naive_rag")
    assert reader["metrics"]["cost"]["query"]["calls"] > 0 and reader["metrics"]["errors"] == 0
