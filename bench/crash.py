"""Crash benchmark: SIGKILL real insert and delete subprocesses, reopen in a fresh process, check.

Each trial copies a base index (MuSiQue documents, fake models: hashing embedder, scripted LLM,
spaCy extraction), starts ``python bench/crash.py worker`` doing one insert (new documents plus
replacements) or one delete, and kills it: at a named write boundary (the worker installs
``tgrag.transaction.kill_at``) or after a random delay within the uncut operation's duration. A
fresh ``verify`` process then opens the index and records:

- ``open_error``: opening raised;
- ``inconsistent``: it opened, but a store holds neither the state before nor after the operation;
- ``lost``: a document whose ``insert()`` had returned is missing;
- ``rerun_mismatch``: re-running the interrupted operation does not give the clean one-batch build
  (documents, passages, vectors, entities, facts, time nodes with summaries, hops compared).

    python bench/crash.py [--trials 50] [--code DIR (a checkout to measure, e.g. a worktree of the
        baseline commit; boundaries are skipped where it has no hook)] [--out bench/results/crash.json]

The worker and the verifier import ``tgrag`` from ``--code`` (``PYTHONPATH``), so one script
measures the current tree and a baseline alike.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DATA = Path(os.environ.get("TGRAG_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
ROOT = Path(__file__).resolve().parents[1]
BOUNDARIES = ("journalled", "written", "prepared:vectors", "prepared:passage_keys", "prepared:graph",
              "prepared", "committed", "cleaned")
COMPONENTS = ("docs", "passages", "vectors", "entities", "facts", "time_nodes", "hops")


# -- inside the worker / verifier processes ----------------------------------------------------------
def _open(index: str, **kw: Any) -> Any:
    from tgrag.facade import TemporalGraphRAG
    from tgrag.testing import HashingEmbedder, ScriptedLLM

    return TemporalGraphRAG.open(index, embedder=HashingEmbedder(), llm=ScriptedLLM(default=""),
                                 show_progress=False, **kw)


def digest(rag: Any) -> dict[str, str]:
    import numpy as np

    g = rag.graph
    ids = sorted(rag.vectors.ids()) if hasattr(rag.vectors, "ids") else []
    vecs = np.stack([rag.vectors.vector(i) for i in ids]) if ids else np.zeros((0,))
    parts = {
        "docs": sorted(json.dumps(rag.docs.get_document(d).to_dict(), sort_keys=True)
                       for d in rag.docs.document_ids()),
        "passages": sorted(json.dumps(p.to_dict(), sort_keys=True) for p in rag.docs.iter_passages()),
        "vectors": [ids, hashlib.sha256(np.round(vecs, 5).tobytes()).hexdigest()],
        "entities": sorted(json.dumps(e.to_dict(), sort_keys=True) for e in g.entities()),
        "facts": sorted(json.dumps(f.to_dict(), sort_keys=True) for f in g.facts()),
        "time_nodes": sorted(json.dumps(t.to_dict(), sort_keys=True) for t in g.time_nodes()),
        "hops": sorted(json.dumps(h.to_dict(), sort_keys=True) for h in g.hops()),
    }
    return {k: hashlib.sha256(json.dumps(v).encode()).hexdigest()[:16] for k, v in parts.items()}


def _operate(rag: Any, op: dict[str, Any], say: Any) -> None:
    from tgrag.ingest import load_jsonl_documents

    if op["kind"] == "none":
        return
    if op["kind"] == "insert":
        docs = load_jsonl_documents(op["file"])
        rag.insert(docs)
        say("returned " + json.dumps([d.doc_id for d in docs]))
    else:  # one delete is one transaction: the operation deletes one document
        rag.delete(op["id"])
        say("returned-delete " + op["id"])


def worker(index: str, op_json: str, kill: str) -> None:
    if kill != "-":
        from tgrag import transaction

        transaction.kill_at(kill)
    rag = _open(index)
    print("started", flush=True)
    _operate(rag, json.loads(op_json), lambda s: print(s, flush=True))
    rag.close()


def verify(index: str, op_json: str) -> None:
    """Open, digest, re-run the operation, digest again; one JSON line on stdout."""
    out: dict[str, Any] = {}
    try:
        rag = _open(index)
    except Exception as exc:  # the outcome being measured: report it, do not crash the bench
        print(json.dumps({"open_error": f"{type(exc).__name__}: {exc}"[:300]}))
        return
    out["after_kill"] = digest(rag)
    out["doc_ids"] = sorted(rag.docs.document_ids())
    try:
        _operate(rag, json.loads(op_json), lambda s: None)
        out["after_rerun"] = digest(rag)
    except Exception as exc:
        from tgrag.kernel import NotFoundError

        if isinstance(exc, NotFoundError):  # a delete that had committed: nothing left to re-run
            out["after_rerun"] = digest(rag)
        else:
            out["rerun_error"] = f"{type(exc).__name__}: {exc}"[:300]
    print(json.dumps(out))


def build(index: str, docs_file: str) -> None:
    from tgrag.ingest import load_jsonl_documents

    rag = _open(index)
    rag.insert(load_jsonl_documents(docs_file))
    print(json.dumps(digest(rag)))


# -- the driver --------------------------------------------------------------------------------------
def _run(code: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=code)


def _last_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"no result (rc {proc.returncode}): {proc.stderr[-2000:]}")
    return dict(json.loads(lines[-1]))


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return str(path)


def _commit(code: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(code), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (subprocess.CalledProcessError, OSError):
        return "unknown"


def measure(code: Path, trials: int, seed: int, n_base: int, n_new: int, n_replace: int,
            n_delete: int) -> dict[str, Any]:
    rng = random.Random(seed)
    rows = [json.loads(ln) for ln in (DATA / "musique" / "corpus.jsonl").read_text().splitlines() if ln.strip()]
    sample = rng.sample(rows, n_base + n_new)
    base_rows, new_rows = sample[:n_base], sample[n_base:]
    replaced = [dict(r, text=r["text"] + " This paragraph was revised later.") for r in base_rows[:n_replace]]
    deleted = [r["id"] for r in base_rows[n_replace:n_replace + 1]]
    has_hook = (code / "tgrag" / "transaction.py").exists()
    work = Path(tempfile.mkdtemp(prefix="tgrag-crash-"))
    try:
        files = {"base": _jsonl(work / "base.jsonl", base_rows),
                 "batch": _jsonl(work / "batch.jsonl", new_rows + replaced),
                 "clean_insert": _jsonl(work / "clean_insert.jsonl",
                                        [r for r in base_rows if r["id"] not in {x["id"] for x in replaced}]
                                        + replaced + new_rows),
                 "clean_delete": _jsonl(work / "clean_delete.jsonl", [r for r in base_rows if r["id"] not in deleted])}
        refs = {}
        for name in ("base", "clean_insert", "clean_delete"):
            refs[name] = _last_json(_run(code, "build", str(work / name), files[name]))
        ops = {"insert": {"kind": "insert", "file": files["batch"]}, "delete": {"kind": "delete", "id": deleted[0]}}
        after = {"insert": refs["clean_insert"], "delete": refs["clean_delete"]}
        # the uncut operations: how long they take, and incremental == one-batch
        uncut: dict[str, Any] = {}
        for kind, op in ops.items():
            shutil.copytree(work / "base", work / f"uncut-{kind}")
            t0 = time.perf_counter()
            proc = _run(code, "worker", str(work / f"uncut-{kind}"), json.dumps(op), "-")
            seconds = time.perf_counter() - t0
            got = _last_json(_run(code, "verify", str(work / f"uncut-{kind}"), json.dumps({"kind": "none"})))
            uncut[kind] = {"seconds": round(seconds, 2), "rc": proc.returncode,
                           "equal_to_one_batch_build": got.get("after_kill") == after[kind],
                           "differing": sorted(k for k in COMPONENTS
                                               if (got.get("after_kill") or {}).get(k) != after[kind][k])}
        plan: list[tuple[str, str]] = []
        if has_hook:
            plan += [(kind, b) for kind in ops for b in BOUNDARIES]
        while len(plan) < trials:
            plan.append(("insert" if len(plan) % 3 != 2 else "delete", "random"))
        results = []
        for i, (kind, where) in enumerate(plan):
            idx = work / f"t{i}"
            shutil.copytree(work / "base", idx)
            env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}
            cmd = [sys.executable, str(Path(__file__).resolve()), "worker", str(idx), json.dumps(ops[kind]),
                   where if where != "random" else "-"]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=code)
            delay = None
            if where == "random":
                delay = rng.uniform(0.0, uncut[kind]["seconds"])
                time.sleep(delay)
                proc.send_signal(signal.SIGKILL)
            out, _ = proc.communicate(timeout=600)
            returned = [ln.split(" ", 1)[1] for ln in out.splitlines() if ln.startswith("returned ")]
            killed = proc.returncode == -signal.SIGKILL
            res = _last_json(_run(code, "verify", str(idx), json.dumps(ops[kind])))
            trial: dict[str, Any] = {"op": kind, "kill_point": where, "delay_s": round(delay, 3) if delay else None,
                                     "killed": killed, "insert_returned": bool(returned)}
            problems = []
            if "open_error" in res:
                problems.append("open_error")
                trial["error"] = res["open_error"]
            else:
                state = res["after_kill"]
                mixed = [k for k in COMPONENTS if state[k] not in (refs["base"][k], after[kind][k])]
                whole = state == refs["base"] or state == after[kind]
                if mixed or not whole:
                    problems.append("inconsistent")
                    trial["mixed"] = mixed or [k for k in COMPONENTS if state[k] != refs["base"][k]]
                trial["state"] = "before" if state == refs["base"] else "after" if state == after[kind] else "mixed"
                if returned and kind == "insert":
                    want = {d for ids in returned for d in json.loads(ids)}
                    if want - set(res["doc_ids"]):
                        problems.append("lost")
                if "rerun_error" in res:
                    problems.append("rerun_mismatch")
                    trial["error"] = res["rerun_error"]
                elif res["after_rerun"] != after[kind]:
                    problems.append("rerun_mismatch")
                    trial["rerun_differs"] = [k for k in COMPONENTS if res["after_rerun"][k] != after[kind][k]]
            trial["failures"] = problems
            results.append(trial)
            shutil.rmtree(idx, ignore_errors=True)
            print(f"[{i + 1}/{len(plan)}] {kind} @ {where}: {trial.get('state')} {problems or 'ok'}", flush=True)
        failed = [t for t in results if t["failures"]]
        counts: dict[str, int] = {}
        for t in failed:
            for f in t["failures"]:
                counts[f] = counts.get(f, 0) + 1
        points: dict[str, int] = {}
        for t in results:
            points[t["kill_point"]] = points.get(t["kill_point"], 0) + 1
        return {"commit": _commit(code), "code": str(code), "trials": len(results), "failed_trials": len(failed),
                "failures": counts, "kill_points": points, "named_boundaries": has_hook, "uncut": uncut,
                "sample": {"dataset": "musique corpus.jsonl", "seed": seed, "base_documents": n_base,
                           "insert": {"new": n_new, "replaced": n_replace}, "delete": 1},
                "results": results}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("worker", "verify", "build"):
        {"worker": worker, "verify": verify, "build": build}[argv[0]](*argv[1:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--code", type=Path, default=ROOT)
    ap.add_argument("--baseline", type=Path, help="also measure this checkout (a worktree of the old "
                    "commit); without it, the baseline section of an existing --out is kept")
    ap.add_argument("--baseline-trials", type=int, default=50)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--base-docs", type=int, default=60)
    ap.add_argument("--new-docs", type=int, default=30)
    ap.add_argument("--replace-docs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "crash.json")
    args = ap.parse_args(argv)
    t0 = time.time()
    sizes = (args.seed, args.base_docs, args.new_docs, args.replace_docs, 1)
    report: dict[str, Any] = {"load_average": list(os.getloadavg()),
                              "models": {"embedder": "HashingEmbedder (tgrag.testing, dim 256)",
                                         "llm": "ScriptedLLM (no LLM call at index time)",
                                         "extraction": "spaCy (default)"},
                              "now": measure(args.code.resolve(), args.trials, *sizes)}
    if args.baseline is not None:
        report["baseline"] = measure(args.baseline.resolve(), args.baseline_trials, *sizes)
    elif args.out.exists():  # the baseline commit does not change: keep its measured run
        earlier = json.loads(args.out.read_text())
        if "baseline" in earlier:
            report["baseline"] = {**earlier["baseline"], "measured_in_an_earlier_run": {
                k: earlier.get(k) for k in ("load_average", "load_average_end", "seconds")}}
    report["load_average_end"] = list(os.getloadavg())
    report["seconds"] = round(time.time() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for name in ("now", "baseline"):
        if name in report:
            r = report[name]
            print(f"{name} ({r['commit'][:7]}): {r['trials']} trials, {r['failed_trials']} failed {r['failures']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
