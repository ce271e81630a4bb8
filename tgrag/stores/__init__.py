"""Storage backends implementing the kernel protocols.

Resolved lazily so that importing one backend never imports the others' dependencies
(``faiss``, ``neo4j``).
"""

from importlib import import_module
from typing import Any

_BACKENDS = {
    "FaissVectorIndex": "tgrag.stores.faiss_index",
    "SqliteDocumentStore": "tgrag.stores.sqlite_docs",
    "NetworkXGraphStore": "tgrag.stores.networkx_store",
    "Neo4jGraphStore": "tgrag.stores.neo4j_store",
}
__all__ = sorted(_BACKENDS)


def __getattr__(name: str) -> Any:
    if name in _BACKENDS:
        return getattr(import_module(_BACKENDS[name]), name)
    raise AttributeError(f"module 'tgrag.stores' has no attribute {name!r}")
