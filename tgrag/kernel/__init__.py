"""The kernel: records, protocols, errors and time. Imports nothing else of the project."""

from tgrag.kernel.batch import WriteBatch
from tgrag.kernel.errors import (
    ConfigError,
    ExtractionError,
    IndexCorruptError,
    InputError,
    ModelError,
    ModelIntegrityError,
    NotFoundError,
    StoreError,
    TgragError,
    TimeError,
    TransientError,
)
from tgrag.kernel.protocols import (
    LLM,
    CommitLog,
    DocumentStore,
    Embedder,
    GraphStore,
    Transactional,
    VectorIndex,
)
from tgrag.kernel.records import (
    Answer,
    Document,
    Entity,
    Evidence,
    EvidenceKind,
    Fact,
    Hop,
    LLMRequest,
    LLMResponse,
    Message,
    Passage,
    TimeLevel,
    TimeNode,
    TraceStep,
    Usage,
    content_id,
)
from tgrag.kernel.temporal import Granularity, TimeInterval, period_of, utc

__all__ = [
    "LLM", "Answer", "CommitLog", "ConfigError", "Document", "DocumentStore", "Embedder", "Entity", "Evidence",
    "EvidenceKind", "ExtractionError", "Fact", "Granularity", "GraphStore", "Hop", "IndexCorruptError",
    "InputError", "LLMRequest", "LLMResponse", "Message", "ModelError", "ModelIntegrityError",
    "NotFoundError", "Passage", "StoreError", "TgragError", "TimeError", "TimeInterval", "TimeLevel",
    "TimeNode", "TraceStep", "Transactional", "TransientError", "Usage", "VectorIndex", "WriteBatch", "content_id", "period_of", "utc",
]
