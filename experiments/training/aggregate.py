"""A training sweep's table: every ``train_metrics.json`` under a directory → comparison.md + .csv.

    python -m experiments.training.aggregate outputs/train/multiruns/2026-01-01_12-00-00 [--out DIR]

One row per run: its overrides (from Hydra's ``.hydra/overrides.yaml``), sources, dense Recall@k
before → after on each evaluation set's held-out split, training steps, seconds and examples/s.
:class:`AggregateTrainingSweep` is the Hydra callback (``conf/training.yaml``) that writes the table
when a ``-m`` sweep ends.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from experiments.report import atomic_write, markdown_table
from tgrag.kernel.errors import InputError

METRICS = "train_metrics.json"


def load_runs(sweep_dir: Path) -> list[dict[str, Any]]:
    if not sweep_dir.is_dir():
        raise InputError("sweep directory not found", path=str(sweep_dir))
    runs = []
    for path in sorted(sweep_dir.rglob(METRICS)):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(f"malformed {METRICS} ({e.msg})", path=str(path), line=e.lineno) from e
        overrides = path.parent / ".hydra" / "overrides.yaml"
        data["_overrides"] = [str(o) for o in OmegaConf.load(overrides)] if overrides.exists() else []
        data["_dir"] = path.parent.name
        runs.append(data)
    if not runs:
        raise InputError(f"no {METRICS} found below the sweep directory", path=str(sweep_dir))
    return runs


def row_of(run: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"run": run["_dir"], "overrides": " ".join(run["_overrides"]),
                           "sources": "+".join(run["run"]["sources"]), "examples": run["data"]["examples"]}
    for name, ev in run["eval"].items():
        for key, after in ev["after"].items():
            if not key.startswith("recall@"):
                continue
            before = (ev.get("before") or {}).get(key)
            row[f"{name} {key}"] = f"{before} → {after}" if before is not None else after
    tr = run["training"]
    row.update({"steps": tr["steps"], "train s": tr["train_seconds"], "examples/s": tr["examples_per_s"],
                "last loss": round(tr["last_loss"], 4) if tr["last_loss"] is not None else None})
    return row


def aggregate(sweep_dir: Path, out_dir: Path | None = None) -> dict[str, Path]:
    """Write comparison.md and comparison.csv; returns their paths."""
    rows = [row_of(r) for r in load_runs(sweep_dir)]
    cols = list(dict.fromkeys(k for r in rows for k in r))
    out = out_dir or sweep_dir
    paths = {"md": out / "comparison.md", "csv": out / "comparison.csv"}
    md = ["# Retriever training sweep", "", f"Sweep: `{sweep_dir}` ({len(rows)} runs)", "",
          "Recall@k: dense supporting-document recall on each set's held-out split, the base model → the "
          "trained one; examples/s: training examples per second of training time.", "",
          markdown_table(rows, cols)]
    atomic_write(paths["md"], "\n".join(md))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write(paths["csv"], buf.getvalue())
    return paths


class AggregateTrainingSweep(Callback):
    """Hydra callback: the comparison table of a multirun, written when it ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if any(sweep_dir.rglob(METRICS)):
            paths = aggregate(sweep_dir)
            print(paths["md"].read_text(encoding="utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.training.aggregate", description=__doc__.splitlines()[0])
    ap.add_argument("sweep_dir", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    paths = aggregate(args.sweep_dir, args.out)
    print(paths["md"].read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
