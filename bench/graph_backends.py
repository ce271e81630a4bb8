"""Graph backends head to head: networkx vs a real Bolt server (ArcadeDB via Neo4jGraphStore).

For each size (default 10k and 100k synthetic facts: random entities, validity intervals, some
open-ended, superseded, undated and literal facts) it measures, in the same run on the same
machine:
- load throughput: facts/s for ``upsert`` of all entities + facts;
- time-filtered ``neighbours`` latency at depth 1, 2, 3 (p50/p95 ms over random entity/year pairs);
- that both backends return the same facts for every query (``results_identical``).

    .venv/bin/python bench/graph_backends.py [DATA_DIR] [--sizes 10000 100000] [--queries 100]

DATA_DIR is accepted for the bench-script convention but unused: the facts are synthetic
(seeded), so the numbers do not depend on the evaluation data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tgrag.kernel.protocols import GraphStore  # noqa: E402
from tgrag.kernel.records import Entity, Fact  # noqa: E402
from tgrag.kernel.temporal import Granularity, TimeInterval  # noqa: E402
from tgrag.stores.arcadedb_server import ArcadeDBBoltServer  # noqa: E402
from tgrag.stores.neo4j_store import Neo4jGraphStore  # noqa: E402
from tgrag.stores.networkx_store import NetworkXGraphStore  # noqa: E402


def synthetic_graph(n_facts: int, seed: int = 0) -> tuple[list[Entity], list[Fact]]:
    """``n_facts`` facts over ``n_facts // 5`` entities (mean degree ~10), power-law-ish subjects."""
    rng = random.Random(seed)
    n_ent = max(10, n_facts // 5)
    ents = [Entity.make(f"Entity {i}", f"entity {i}", type=rng.choice(["person", "org", "place"]))
            for i in range(n_ent)]
    weights = [1.0 / (i + 1) ** 0.5 for i in range(n_ent)]
    preds = [f"rel_{k}" for k in range(20)]
    facts: list[Fact] = []
    subjects = rng.choices(range(n_ent), weights=weights, k=n_facts)
    for i, s in enumerate(subjects):
        r = rng.random()
        if r < 0.05:
            valid = None
        else:
            start = datetime(rng.randint(1990, 2022), rng.randint(1, 12), 1, tzinfo=UTC)
            if r < 0.15:
                valid = TimeInterval(start, None, Granularity.MONTH)
            else:
                end = start.replace(year=start.year + rng.randint(1, 8))
                valid = TimeInterval(start, end, Granularity.MONTH)
        literal = rng.random() < 0.1
        obj = f"value {i}" if literal else ents[rng.randrange(n_ent)].entity_id
        f = Fact.make(ents[s].entity_id, rng.choice(preds), obj, object_is_entity=not literal, valid=valid,
                      observed_at=valid.start if valid else None, source_passage_id=f"psg:{i // 5}",
                      doc_id=f"doc:{i // 50}", text=f"sentence {i}")
        if valid is not None and valid.start is not None and rng.random() < 0.1:
            f = f.superseded(valid.start.replace(year=valid.start.year + 1), f"fact:sup{i}")
        facts.append(f)
    return ents, facts


def measure(store: GraphStore, ents: list[Entity], facts: list[Fact], queries: list[tuple[str, int]],
            label: str) -> tuple[dict[str, Any], dict[int, list[list[str]]]]:
    t0 = time.perf_counter()
    store.upsert(ents)
    store.upsert(facts)
    load_s = time.perf_counter() - t0
    counts = store.counts()
    out: dict[str, Any] = {"load_seconds": round(load_s, 3), "load_facts_per_s": round(len(facts) / load_s, 1),
                           "counts": counts, "neighbours": {}}
    answers: dict[int, list[list[str]]] = {}
    for depth in (1, 2, 3):
        lat, sizes, answers[depth] = [], [], []
        for ent_id, yr in tqdm(queries, desc=f"{label} depth {depth}", leave=False):
            during = TimeInterval.from_label(str(yr))
            t = time.perf_counter()
            res = store.neighbours(ent_id, depth=depth, during=during)
            lat.append((time.perf_counter() - t) * 1000)
            sizes.append(len(res))
            answers[depth].append([f.fact_id for f in res])
        arr = np.asarray(lat)
        out["neighbours"][f"depth_{depth}"] = {
            "queries": len(lat), "p50_ms": round(float(np.percentile(arr, 50)), 3),
            "p95_ms": round(float(np.percentile(arr, 95)), 3), "mean_ms": round(float(arr.mean()), 3),
            "mean_facts_returned": round(float(np.mean(sizes)), 2)}
    return out, answers


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir", nargs="?", default=None, help="unused (synthetic facts)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=100, help="queries per depth and size")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--heap", default="2g", help="ArcadeDB JVM heap (-Xmx)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "graph_backends.json")
    args = ap.parse_args(argv)

    results: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "processor": platform.processor()},
        "server": {"kind": "ArcadeDB 26.10.2 Bolt plugin (arcadedb-embedded wheel), loopback",
                   "heap": args.heap, "batch_size": args.batch_size},
        "query": "neighbours(entity, depth, during=<random calendar year 1990-2024>)",
        "sizes": {},
    }
    with tempfile.TemporaryDirectory(prefix="tgrag-bench-") as tmp, \
            ArcadeDBBoltServer(Path(tmp) / "arcadedb", heap=args.heap) as server:
        for n in args.sizes:
            ents, facts = synthetic_graph(n)
            rng = random.Random(n)
            queries = [(rng.choice(ents).entity_id, rng.randint(1990, 2024)) for _ in range(args.queries)]
            nx_res, nx_ans = measure(NetworkXGraphStore(), ents, facts, queries, f"networkx {n}")
            db = server.create_database(f"bench{n}")
            store = Neo4jGraphStore(server.uri, server.user, database=db, password=server.password,
                                    flavor="arcadedb", batch_size=args.batch_size)
            bolt_res, bolt_ans = measure(store, ents, facts, queries, f"bolt {n}")
            store.close()
            server.drop_database(db)
            results["sizes"][str(n)] = {
                "facts": n, "entities": len(ents), "networkx": nx_res, "bolt_arcadedb": bolt_res,
                "results_identical": nx_ans == bolt_ans and nx_res["counts"] == bolt_res["counts"]}
            print(json.dumps(results["sizes"][str(n)], indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
