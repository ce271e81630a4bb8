"""One error hierarchy. Every error carries the data needed to find the offending input."""

from __future__ import annotations


class TgragError(Exception):
    """Root of every error tgrag raises on purpose."""


class TimeError(TgragError, ValueError):
    """An invalid time value (empty interval, naive/unknown datetime, bad label)."""


class InputError(TgragError, ValueError):
    """Bad user input: names the file and line, or the document id, where it was found."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 doc_id: str | None = None) -> None:
        self.path = path
        self.line = line
        self.doc_id = doc_id
        where = []
        if path is not None:
            where.append(f"{path}:{line}" if line is not None else path)
        if doc_id is not None:
            where.append(f"document {doc_id!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class StoreError(TgragError):
    """A storage backend failed or holds inconsistent data."""


class IndexCorruptError(StoreError):
    """Persisted index files do not match each other (e.g. FAISS index vs id map)."""


class NotFoundError(TgragError, KeyError):
    """A record id that is not in the store."""

    def __init__(self, kind: str, record_id: str) -> None:
        self.kind = kind
        self.record_id = record_id
        super().__init__(f"{kind} {record_id!r} not found")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ModelError(TgragError):
    """A model backend failed to load or to answer."""


class ModelIntegrityError(ModelError):
    """Model weights whose checksum does not match the pinned one."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        self.path, self.expected, self.actual = path, expected, actual
        super().__init__(f"{path}: sha256 {actual} does not match the pinned {expected}")


class TransientError(TgragError):
    """A fault worth a bounded retry (timeouts, 429/5xx, transient DB errors)."""


class ConfigError(TgragError):
    """A configuration that cannot be built, or builds the wrong kind of object."""


class ExtractionError(TgragError):
    """Structured extraction output that fails validation (carries the passage id)."""

    def __init__(self, message: str, *, passage_id: str | None = None) -> None:
        self.passage_id = passage_id
        super().__init__(f"passage {passage_id!r}: {message}" if passage_id else message)
