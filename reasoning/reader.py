"""The reader: answer from numbered evidence with citations, or abstain.

The prompt is built for small local models (Qwen2.5-0.5B): one short instruction, the evidence as
numbered, dated lines, and a fixed two-line reply format that is easy to parse. When the model gives
an answer without citing, the citation is inferred from the evidence that contains the answer.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reasoning.evidence import estimate_tokens, evidence_line
from tgrag.kernel.protocols import LLM
from tgrag.kernel.records import Evidence, LLMRequest, Usage
from tgrag.kernel.temporal import TimeInterval

SYSTEM = (
    "You answer questions using only the numbered evidence. Give the shortest answer "
    "(a name, date, number or yes/no), then the evidence numbers you used. Reply in exactly this format:\n"
    "Answer: <short answer>\nCitations: [n]\n"
    "If the evidence does not answer the question, reply:\nAnswer: unknown\nCitations: none"
)

_ABSTAIN = {"unknown", "unknow", "none", "n/a", "not mentioned", "not stated", "no answer", "cannot be determined",
            "not enough information", "insufficient information", "i don't know", "i do not know",
            "not provided", "not available", "not specified", ""}
_ANSWER_RE = re.compile(r"answer\s*:\s*(.+)", re.IGNORECASE)
_CITE_RE = re.compile(r"\[(\d{1,3})\]")
_LEAD_RE = re.compile(r"^(the answer is|answer is|it is|it was)\s+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ReadResult:
    text: str
    abstained: bool
    cited: tuple[int, ...]  # 1-based indexes into the evidence handed to read()
    usage: Usage
    raw: str = ""
    citations_inferred: bool = False


def normalise_answer(text: str) -> str:
    """Short-answer clean-up: first line, no 'The answer is', no surrounding quotes/period."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = _CITE_RE.sub("", line)
    line = _LEAD_RE.sub("", line.strip())
    prev = None
    while prev != line:
        prev = line
        line = line.strip().strip("\"'“”‘’*` ").rstrip(".;,").strip()
    return line


def is_abstention(answer: str) -> bool:
    a = answer.lower().strip().strip(string.punctuation + " ")
    return a in _ABSTAIN or a.startswith(("unknown", "the evidence does not", "there is no", "no information",
                                          "it is not mentioned", "not enough"))


def describe_scope(scope: TimeInterval | None) -> str:
    if scope is None:
        return ""
    if scope.start is None and scope.end is not None:
        return f"Answer as of {scope.describe().removeprefix('before ')}: ignore anything later."
    return f"The question is about {scope.describe()}; use what was true then."


def format_evidence(evidence: Sequence[Evidence], max_tokens: int,
                    count: Callable[[str], int] = estimate_tokens) -> tuple[str, int]:
    """Numbered evidence lines within ``max_tokens`` as ``count`` counts them (the same lines and the
    same counter as :func:`reasoning.evidence.assemble`, so assembled evidence is shown whole). An
    item that no longer fits ends the list; the first item is cut to fit instead."""
    lines: list[str] = []
    budget = max_tokens
    for i, ev in enumerate(evidence, start=1):
        line = evidence_line(i, ev)
        cost = count(line) + 1
        if cost > budget:
            if lines:
                break
            words = line.split()
            while len(words) > 12 and count(" ".join(words)) + 1 > budget:
                words = words[: max(12, int(len(words) * 0.9))]
            line = " ".join(words)
            cost = budget
        lines.append(line)
        budget -= cost
    return "\n".join(lines), len(lines)


class Reader:
    """Reads evidence with an LLM and returns a short answer with citations, or an abstention."""

    def __init__(self, llm: LLM, *, max_evidence_tokens: int = 1500, max_answer_tokens: int = 32,
                 count_tokens: Callable[[str], int] | None = None) -> None:
        self.llm = llm
        self.max_evidence_tokens = max_evidence_tokens
        self.max_answer_tokens = max_answer_tokens
        counter = count_tokens or getattr(llm, "count_tokens", None)
        self.count_tokens: Callable[[str], int] = counter if callable(counter) else estimate_tokens

    def prompt(self, question: str, evidence: Sequence[Evidence], scope: TimeInterval | None) -> tuple[str, int]:
        block, shown = format_evidence(evidence, self.max_evidence_tokens, self.count_tokens)
        scope_line = describe_scope(scope)
        user = f"Evidence:\n{block}\n\n{scope_line + chr(10) if scope_line else ''}Question: {question}"
        return user, shown

    def read(self, question: str, evidence: Sequence[Evidence], *, scope: TimeInterval | None = None) -> ReadResult:
        if not evidence:
            return ReadResult("", True, (), Usage(), "(no evidence in scope: abstained without a call)")
        user, shown = self.prompt(question, evidence, scope)
        req = LLMRequest.chat(user, system=SYSTEM, max_tokens=self.max_answer_tokens, temperature=0.0)
        resp = self.llm.complete(req)
        return parse_reply(resp.text, evidence[:shown], resp.usage)


def parse_reply(raw: str, evidence: Sequence[Evidence], usage: Usage) -> ReadResult:
    m = _ANSWER_RE.search(raw)
    answer_part = m.group(1) if m else raw
    answer = normalise_answer(answer_part.split("Citations")[0].split("citations")[0])
    if is_abstention(answer):
        return ReadResult("", True, (), usage, raw)
    cited = tuple(dict.fromkeys(int(n) for n in _CITE_RE.findall(raw) if 1 <= int(n) <= len(evidence)))
    inferred = False
    if not cited:
        low = answer.lower()
        hits = tuple(i for i, ev in enumerate(evidence, start=1) if low and low in ev.text.lower())
        cited = hits[:2] if hits else ((1,) if evidence else ())
        inferred = True
    return ReadResult(answer, False, cited, usage, raw, inferred)
