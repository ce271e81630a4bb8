"""Plain-text rendering shared by the CLI and the demo: citations, timings, timelines."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tgrag.kernel.records import Answer, Fact


def citation_lines(ans: Answer, *, indent: str = "  ", width: int = 160) -> list[str]:
    out = []
    for i, c in enumerate(ans.citations, start=1):
        date = c.date.describe() if c.date else "undated"
        title = f"{c.title}: " if c.title else ""
        out.append(f"{indent}[{i}] {c.kind.value} {c.doc_id or c.ref_id} ({date}) {title}{c.text[:width]}")
    return out


def timings_line(ans: Answer) -> str:
    t = ", ".join(f"{k} {v:.2f}s" for k, v in ans.timings.items())
    u = ans.usage
    return (f"{t} | LLM calls {u.calls} ({u.cached_calls} cached), "
            f"tokens {u.prompt_tokens}+{u.completion_tokens}")


def timeline_lines(facts: Iterable[Fact], name: Callable[[str], str]) -> list[str]:
    out = []
    for f in facts:
        iv = f.effective.describe() if f.effective else "undated"
        obj = name(f.object) if f.object_is_entity else f.object
        closed = f"  (superseded {f.invalid_at.date()})" if f.invalid_at else ""
        out.append(f"{iv:>24}  {name(f.subject)} — {f.predicate} — {obj}{closed}")
    return out
