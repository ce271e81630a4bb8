"""``WriteBatch``: one logical write (insert, replace or delete) as the commit journal records it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tgrag.kernel.records import Document, Passage


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """The document-store side of generation ``generation``: first delete ``deleted`` (document
    ids), then store ``documents`` with their ``passages``. Enough to replay the write."""

    generation: int
    deleted: tuple[str, ...] = ()
    documents: tuple[Document, ...] = ()
    passages: tuple[Passage, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"generation": self.generation, "deleted": list(self.deleted),
                "documents": [d.to_dict() for d in self.documents],
                "passages": [p.to_dict() for p in self.passages]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WriteBatch:
        return cls(int(d["generation"]), tuple(d.get("deleted") or ()),
                   tuple(Document.from_dict(x) for x in d.get("documents") or ()),
                   tuple(Passage.from_dict(x) for x in d.get("passages") or ()))
