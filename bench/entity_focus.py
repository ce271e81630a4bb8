"""Entity focus, LLM-free: supporting-passage recall of the k passages the reader would see.

For every question of each set that names supporting passages, the loop's evidence gathering runs on
the whole question (scope read from its text, no decomposition, no LLM) with ``entity_focus`` off,
``fill`` and ``only`` (``reasoning.evidence.focus_on_entities``: the k passages chosen from the top
``focus_depth``, those about the question's linked entities first). Reported per set on two disjoint
parts: ``report`` is the answer benchmarks' own sample (1 in ``len/100`` at offset 0, as
``bench/temporal_answers.py`` and ``bench/answers.py`` pick it), ``tune`` is every other question.
Each set is indexed with the product's own index (re-used from ``--index-dir``).

    .venv/bin/python bench/entity_focus.py ../shared/data --datasets menatqa timeqa musique
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from answers import load_set, product_index  # noqa: E402
from retrieval import machine_info  # noqa: E402
from tqdm import tqdm  # noqa: E402

from reasoning.assembly import build_query_side  # noqa: E402
from reasoning.evidence import FOCUS_MODES  # noqa: E402
from reasoning.loop import TemporalReasoner  # noqa: E402
from reasoning.settings import ReasoningSettings  # noqa: E402
from tgrag.kernel.records import EvidenceKind  # noqa: E402

SETS = ("menatqa", "timeqa", "tempreason", "musique", "2wikimultihopqa", "hotpotqa")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_root", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--datasets", nargs="+", default=list(SETS))
    ap.add_argument("--index-dir", default=str(ROOT / ".tgrag" / "bench" / "indexes"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "entity_focus.json"))
    args = ap.parse_args(argv)
    from tgrag.models.embedders import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    base = ReasoningSettings()
    result: dict[str, Any] = {"benchmark": "entity_focus", "command": " ".join(sys.argv),
                              "date": datetime.now(UTC).isoformat(), "machine": machine_info(),
                              "embedder": embedder.name, "llm": None, "k": base.k, "focus_depth": base.focus_depth,
                              "metric": "mean fraction of a question's supporting documents among the reader's "
                                        "passages (percent)", "datasets": {}}
    for name in args.datasets:
        data = load_set(name, Path(args.data_root))
        every = list(data.questions)
        stride = max(1, len(every) // 100)
        report_ids = {q.qid for q in every[::stride][:100]}
        questions = [q for q in every if q.supporting]
        rag = product_index(name, list(data.documents), embedder, Path(args.index_dir))
        modes: dict[str, Any] = {}
        for mode in FOCUS_MODES:
            side = build_query_side(rag.docs, rag.vectors, rag.graph, rag.embedder, None,
                                    settings=replace(base, entity_focus=mode), indexer=rag.indexer)
            reasoner = TemporalReasoner(side, None)
            parts: dict[str, dict[str, list[float]]] = {p: {"recall": [], "passages": []} for p in ("tune", "report")}
            t0 = time.perf_counter()
            for q in tqdm(questions, desc=f"{name} {mode}"):
                scope = reasoner.scope_of(q.question, question_date=q.question_date.label() if q.question_date else None)
                evidence, _ = reasoner.gather(q.question, scope.interval)
                docs = {e.doc_id for e in evidence if e.kind is EvidenceKind.PASSAGE}
                part = parts["report" if q.qid in report_ids else "tune"]
                part["recall"].append(len(set(q.supporting) & docs) / len(set(q.supporting)))
                part["passages"].append(len(docs))
            modes[mode] = {p: {"n": len(v["recall"]),
                               "recall": round(100 * sum(v["recall"]) / max(1, len(v["recall"])), 2),
                               "passages_per_q": round(sum(v["passages"]) / max(1, len(v["passages"])), 2)}
                           for p, v in parts.items()}
            modes[mode]["ms_per_q"] = round(1000 * (time.perf_counter() - t0) / max(1, len(questions)), 1)
            print(name, mode, json.dumps(modes[mode]), flush=True)
        result["datasets"][name] = {"questions_with_supporting": len(questions), "modes": modes}
        rag.close()
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
