"""tgrag: temporal, graph-based multi-hop retrieval-augmented generation.

``from tgrag import TemporalGraphRAG`` is resolved lazily so that importing the kernel
(``tgrag.kernel``) from other packages never pulls in the whole pipeline.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["TemporalGraphRAG", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "TemporalGraphRAG":
        from tgrag.facade import TemporalGraphRAG

        return TemporalGraphRAG
    raise AttributeError(f"module 'tgrag' has no attribute {name!r}")
