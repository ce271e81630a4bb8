"""Aggregate a sweep: every ``metrics.json`` under a directory → one table (markdown + CSV) + one figure.

    python -m experiments.aggregate outputs/run/multiruns/2026-01-01_12-00-00 [--out DIR]
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

from experiments.report import atomic_write, markdown_table, recall_curve
from tgrag.kernel.errors import InputError

BASE_COLUMNS = ["dataset", "method", "n"]


def load_runs(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every run's metrics.json below ``sweep_dir`` (sorted by dataset, method)."""
    if not sweep_dir.is_dir():
        raise InputError("sweep directory not found", path=str(sweep_dir))
    runs = []
    for path in sorted(sweep_dir.rglob("metrics.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(f"malformed metrics.json ({e.msg})", path=str(path), line=e.lineno) from e
        data["_path"] = str(path.parent)
        runs.append(data)
    if not runs:
        raise InputError("no metrics.json found below the sweep directory", path=str(sweep_dir))
    return sorted(runs, key=lambda r: (r["run"]["dataset"], r["run"]["method"]))


def row_of(run: Mapping[str, Any]) -> dict[str, Any]:
    m = run["metrics"]
    row: dict[str, Any] = {"dataset": run["run"]["dataset"], "method": run["run"]["method"],
                           "n": m["n_questions"]}
    row.update({k: v for k, v in m["retrieval"].items() if k.startswith(("recall@", "precision@"))})
    if m["answer"].get("n"):
        row["em"], row["f1"] = m["answer"]["em"], m["answer"]["f1"]
    if m["temporal"].get("n"):
        row.update({k: m["temporal"][k] for k in ("accuracy", "correct", "abstained", "incorrect")})
    q = m["cost"]["query"]
    row["s/query"] = q["seconds_per_query"].get("mean", 0.0)
    row["llm calls"] = q["calls"]
    row["cached calls"] = q["cached_calls"]
    row["index reused"] = run["run"]["index"]["reused"]
    row["index build s"] = run["run"]["index"]["seconds"]  # recorded when built, also for re-used ones
    return row


def columns_of(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            seen.setdefault(k, None)
    rest = [c for c in seen if c not in BASE_COLUMNS]
    recall = sorted((c for c in rest if c.startswith("recall@")), key=lambda c: int(c.split("@")[1]))
    precision = sorted((c for c in rest if c.startswith("precision@")), key=lambda c: int(c.split("@")[1]))
    other = [c for c in rest if c not in recall and c not in precision]
    return BASE_COLUMNS + recall + precision + other


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c, "") for c in columns})
    return buf.getvalue()


def plot_sweep(runs: Sequence[Mapping[str, Any]], path: Path) -> None:
    """One panel per dataset with a Recall@k line per method (or F1 bars when nothing retrieved)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["run"]["dataset"] for r in runs})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 3.9), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        ds_runs = [r for r in runs if r["run"]["dataset"] == ds]
        curves = {r["run"]["method"]: recall_curve(r["metrics"]["retrieval"]) for r in ds_runs}
        curves = {k: v for k, v in curves.items() if v}
        if curves:
            for name, curve in curves.items():
                ks = sorted(curve)
                ax.plot(ks, [curve[k] for k in ks], marker="o", label=name)
            all_ks = sorted({k for c in curves.values() for k in c})
            ax.set_xscale("log")
            ax.set_xticks(all_ks, [str(k) for k in all_ks])
            ax.set_xlabel("k (documents)")
            ax.set_ylabel("supporting-document recall@k")
            ax.legend(fontsize=8)
        else:
            names = [r["run"]["method"] for r in ds_runs]
            ax.bar(range(len(names)), [r["metrics"]["answer"].get("f1", 0.0) for r in ds_runs])
            ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
            ax.set_ylabel("F1")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        n = ds_runs[0]["metrics"]["n_questions"]
        ax.set_title(f"{ds} (n={n})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def aggregate(sweep_dir: Path, out_dir: Path | None = None) -> dict[str, Path]:
    """Write comparison.md, comparison.csv and comparison.png; returns their paths."""
    runs = load_runs(sweep_dir)
    out = out_dir or sweep_dir
    rows = [row_of(r) for r in runs]
    cols = columns_of(rows)
    paths = {"md": out / "comparison.md", "csv": out / "comparison.csv", "png": out / "comparison.png"}
    context = sorted({(r["run"].get("command") or "") for r in runs} - {""})
    md = ["# Sweep comparison", "", f"Sweep: `{sweep_dir}` ({len(runs)} runs)", ""]
    md += [f"Command: `{c}`" for c in context[:1]]
    md += ["", "Recall@k / Precision@k: supporting documents among the top-k distinct documents retrieved, "
           "averaged over the questions with gold evidence; s/query: mean wall seconds per question; "
           "index build s: what building the (shared, cached) index cost once."]
    md += ["", markdown_table(rows, cols), "", "![comparison](comparison.png)", ""]
    atomic_write(paths["md"], "\n".join(md))
    atomic_write(paths["csv"], to_csv(rows, cols))
    plot_sweep(runs, paths["png"])
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.aggregate", description=__doc__.splitlines()[0])
    ap.add_argument("sweep_dir", type=Path, help="a multirun directory (any folder holding run metrics.json)")
    ap.add_argument("--out", type=Path, default=None, help="where to write (default: the sweep directory)")
    args = ap.parse_args(argv)
    paths = aggregate(args.sweep_dir, args.out)
    for p in paths.values():
        print(p)
    print(paths["md"].read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
