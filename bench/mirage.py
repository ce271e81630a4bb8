"""MIRAGE robustness (NV / CA / CI / CM) of the embedded readers on the multi-hop sets (issue 11).

For every (set, reader) pair it runs the experiments' MIRAGE protocol (``protocol=mirage``) with the
naive retrieve-then-read method (dense top 5, one reader call): each question is answered closed
book (base), over its gold supporting passages (oracle) and over the retrieved top 5 (mixed). The
index holds passages and vectors only (``extraction=none``: what dense retrieval reads). Each run
writes its own directory (metrics.json, predictions.jsonl, report.md, plot) under ``--runs``; a run
whose metrics.json exists is kept, not repeated (every LLM call is cached as well). The pairs are
then gathered into one JSON file and one figure.

    .venv/bin/python bench/mirage.py ../shared/data --limit 50 --readers qwen05 qwen15
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments.mirage import METRICS  # noqa: E402
from experiments.report import markdown_table, plot_outcomes  # noqa: E402
from tgrag.provenance import machine_info  # noqa: E402

MULTIHOP = ("hotpotqa", "2wikimultihopqa", "musique")
PARTITION_COLOURS = {"CA": "#2e7d32", "NV": "#f9a825", "CM": "#6a1b9a", "CI": "#c62828"}
READERS = {"qwen05": "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (llama.cpp)",
           "qwen15": "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (llama.cpp)"}


def run_one(data_root: str, dataset: str, reader: str, limit: int, run_dir: Path) -> dict[str, Any]:
    """The protocol run of one (set, reader); re-used when its metrics.json exists."""
    metrics = run_dir / "metrics.json"
    if not metrics.exists():
        cmd = [sys.executable, "-m", "experiments.run", "protocol=mirage", "method=naive_rag",
               f"dataset={dataset}", f"dataset.limit={limit}", f"llm={reader}", "extraction=none",
               f"task_name=mirage_{dataset}_{reader}", f"hydra.run.dir={run_dir}"]
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True, env={**os.environ, "TGRAG_DATA": data_root})
    return json.loads(metrics.read_text(encoding="utf-8"))


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_root", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--datasets", nargs="+", default=list(MULTIHOP))
    ap.add_argument("--readers", nargs="+", default=["qwen05"], choices=list(READERS))
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--runs", default=str(ROOT / "bench" / "results" / "sweep" / "mirage"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "mirage.json"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {"results": {}}
    result.update({"command": " ".join(sys.argv), "date": datetime.now(UTC).isoformat(), "machine": machine_info(),
                   "method": "naive_rag: dense top 5 (MiniLM), one reader call; oracle: the gold supporting "
                             "passages through the same reader; base: closed book",
                   "em": "loose (a gold answer contained in the normalised prediction, as the authors' code)",
                   "sample": f"the first {args.limit} seeded questions with supporting passages of each set",
                   "readers": {r: READERS[r] for r in args.readers}})
    for reader in args.readers:
        for dataset in args.datasets:
            run = run_one(args.data_root, dataset, reader, args.limit, Path(args.runs) / f"{dataset}_{reader}")
            mir = run["mirage"]
            result["results"][f"{dataset}/{reader}"] = {
                "dataset": dataset, "reader": reader, "llm": run["run"]["llm"], **{k: mir[k] for k in METRICS},
                "n": mir["n"], "counts": mir["counts"], "label_counts": mir["label_counts"], "score": mir["score"],
                "em": mir["em"], "seconds_total": round(run["run"]["seconds_total"], 1),
                "llm_cache": run.get("llm_cache", {}), "machine_at_end": run["run"].get("machine_at_end")}
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    rows = [{"set / reader": key, **{k.upper(): round(v[k], 3) for k in METRICS}, "score": round(v["score"], 3),
             "EM b/o/m": "/".join(f"{v['em'][p]:.2f}" for p in ("base", "oracle", "mixed")), "n": v["n"]}
            for key, v in sorted(result["results"].items())]
    print(markdown_table(rows, list(rows[0])))
    plot_outcomes({key: {k.upper(): v[k] for k in METRICS} for key, v in sorted(result["results"].items())},
                  Path(args.runs) / "mirage.png", "MIRAGE: naive_rag (the four partition the questions)",
                  colours=PARTITION_COLOURS, ylabel="fraction of questions")


if __name__ == "__main__":
    main()
