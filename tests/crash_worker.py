"""Child process of the durability tests and ``bench/crash.py``: one insert or delete on an index
with the fake models, optionally SIGKILLed by itself at a named write boundary.

    python tests/crash_worker.py insert IDX docs.jsonl [BOUNDARY|hold:BOUNDARY:FILE|-] [LOCK_TIMEOUT]
    python tests/crash_worker.py delete IDX id1,id2 [BOUNDARY|hold:BOUNDARY:FILE|-] [LOCK_TIMEOUT]

Prints ``started`` once the index is open and ``returned <doc ids>`` after each call returns.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tgrag import transaction
from tgrag.facade import TemporalGraphRAG
from tgrag.ingest import load_jsonl_documents
from tgrag.testing import HashingEmbedder, ScriptedLLM


def open_index(path: str | Path, **kw: object) -> TemporalGraphRAG:
    return TemporalGraphRAG.open(path, embedder=HashingEmbedder(), llm=ScriptedLLM(default=""),
                                 show_progress=False, **kw)  # type: ignore[arg-type]


def main(argv: list[str]) -> int:
    op, index, arg = argv[:3]
    kill = argv[3] if len(argv) > 3 else "-"
    timeout = float(argv[4]) if len(argv) > 4 else 60.0
    if kill.startswith("hold:"):  # hold the write open at a boundary until FILE exists (concurrency tests)
        where, release = kill[len("hold:"):].split(":", 1)

        def pause(reached: str) -> None:
            if reached == where:
                print(f"at {reached}", flush=True)
                deadline = time.monotonic() + 300
                while not Path(release).exists() and time.monotonic() < deadline:
                    time.sleep(0.05)

        transaction.boundary_hook = pause
    elif kill != "-":
        transaction.kill_at(kill)
    rag = open_index(index, lock_timeout=timeout)
    print("started", flush=True)
    if op == "insert":
        docs = load_jsonl_documents(arg)
        rag.insert(docs)
        print("returned", ",".join(d.doc_id for d in docs), flush=True)
    elif op == "delete":
        for doc_id in arg.split(","):
            rag.delete(doc_id)
            print("returned", doc_id, flush=True)
    else:
        raise SystemExit(f"unknown operation {op!r}")
    rag.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
