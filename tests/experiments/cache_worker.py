"""One sweep job in its own process, for tests/experiments/test_index_cache.py: ``open_or_build``
on the demo set with fakes, on the cache named by ``TGRAG_EXPERIMENT_CACHE``. Prints one event per
line on stdout: ``building`` (with a delay, so the test can overlap jobs), ``waiting`` (blocked on
the cache lock), ``opened`` (JSON), ``read`` and ``closed`` (JSON).

    python tests/experiments/cache_worker.py REUSE(0|1) BUILD_DELAY_S HOLD_UNTIL_FILE|-
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir

from experiments import indexing
from experiments.build import register_resolvers
from experiments.metering import MeteredLLM
from experiments.runner import build_components, load_dataset_cfg
from tgrag.kernel.records import Document, Usage

CONF = Path(__file__).resolve().parents[2] / "conf"
OVERRIDES = ["llm=scripted", "embedder=hashing", "dataset=demo", "dataset.limit=3", "index.show_progress=false",
             "method=bm25"]


class _Waiting(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("waiting for"):
            print("waiting", flush=True)


def main(reuse: str, build_delay: str, hold_until: str) -> None:
    logging.getLogger("experiments.indexing").addHandler(_Waiting())
    logging.getLogger("experiments.indexing").setLevel(logging.INFO)
    insert = indexing._insert

    def slow_insert(rag: Any, docs: Sequence[Document], llm: MeteredLLM) -> tuple[float, Usage, dict[str, Any]]:
        print("building", json.dumps({"t": time.time()}), flush=True)
        time.sleep(float(build_delay))
        return insert(rag, docs, llm)

    indexing._insert = slow_insert
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=OVERRIDES)
    comps = build_components(cfg)
    dataset = load_dataset_cfg(cfg)
    print("started", flush=True)
    rag, info = indexing.open_or_build(comps, dataset.documents, cache_root=Path(cfg.paths.cache_dir),
                                       name=dataset.name, reuse=reuse == "1")
    print("opened", json.dumps({"reused": info.reused, "path": str(info.path), "t": time.time()}), flush=True)
    if hold_until != "-":
        while not Path(hold_until).exists():
            time.sleep(0.05)
        # the index this job holds open is still there and whole
        docs, passages = rag.docs.count()
        hits = rag.vectors.search(rag.vectors.vector(rag.vectors.ids()[0]), 1)
        print("read", json.dumps({"documents": docs, "passages": passages, "vectors": len(rag.vectors),
                                  "hits": len(hits), "files": (info.path / indexing.BUILD_INFO).exists()}),
              flush=True)
    rag.close()
    print("closed", json.dumps({"t": time.time()}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
