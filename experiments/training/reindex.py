"""Re-index a corpus with a fine-tuned embedder, in one command.

    python -m experiments.training.reindex SRC_INDEX DST_INDEX --embedder outputs/train/runs/<run>/model

The documents are read from the source index's document store (SQLite, the source of truth, one
committed generation) and inserted into a new index built with the new embedder, in one
transaction, as ``tgrag index`` builds one: vectors, passage-graph keys and hops, the knowledge graph
and the time tree are all derived again (every one of them reads the embedder). The new index's
manifest records the fine-tuned model's name (base + weight digest) and refuses to open with any
other embedder. From JSONL files the same is ``tgrag index DST docs.jsonl --embedder <model>``; in
experiments, ``embedder.model=<model>`` keys a new cached index.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tgrag.kernel.errors import InputError, StoreError, TgragError
from tgrag.kernel.records import Document


def stored_documents(index: Path) -> list[Document]:
    """Every document of an index, read from one committed generation of its document store."""
    from tgrag.stores.sqlite_docs import SqliteDocumentStore

    path = index / "docs.sqlite"
    if not path.is_file():
        raise InputError("not a tgrag index (no docs.sqlite)", path=str(index))
    store = SqliteDocumentStore(path)
    try:
        if store.pending() is not None:
            raise StoreError(f"{index}: an interrupted write is unresolved; open the index once "
                             "(`tgrag check`) to resolve it before re-indexing")
        store.snapshot()
        docs = [d for d in (store.get_document(i) for i in store.document_ids()) if d is not None]
    finally:
        store.close()
    return docs


def reindex(src: Path, dst: Path, embedder: Any, *, replace: bool = False, show_progress: bool = True
            ) -> dict[str, Any]:
    """Build ``dst`` from ``src``'s documents with ``embedder``; returns the insert report and stats."""
    from tgrag.facade import TemporalGraphRAG

    if src.resolve() == dst.resolve():
        raise InputError("the re-indexed copy needs its own directory", path=str(dst))
    docs = stored_documents(src)
    if dst.exists() and any(dst.iterdir()):
        if not replace:
            raise InputError("destination exists and is not empty (pass --replace)", path=str(dst))
        shutil.rmtree(dst)
    rag = TemporalGraphRAG.open(dst, embedder=embedder, show_progress=show_progress)
    try:
        report = rag.insert(docs)
        return {"documents": len(docs), "report": report.to_dict(), "stats": rag.stats()}
    finally:
        rag.close()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.training.reindex", description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="an existing tgrag index")
    ap.add_argument("dst", type=Path, help="the new index directory")
    ap.add_argument("--embedder", required=True, help="sentence-transformers model directory (a trained model/)")
    ap.add_argument("--replace", action="store_true", help="delete a non-empty destination first")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    from tgrag.models.embedders import SentenceTransformerEmbedder

    try:
        out = reindex(args.src, args.dst, SentenceTransformerEmbedder(args.embedder), replace=args.replace,
                      show_progress=not args.no_progress)
    except TgragError as e:
        print(f"reindex: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
