"""Question → tree of sub-questions (RT-RAG style), with an LLM and worked examples.

The LLM replies ``{"subquestions": [...]}`` where ``#n`` stands for the answer of sub-question n
(MuSiQue's notation). The reply is validated (JSON, 1..``max_subquestions`` non-empty strings,
``#n`` only pointing backwards); an invalid reply is retried up to ``retries`` times, after which
the question is kept whole. A single sub-question means "single-hop: not split". Comparison
questions ("..., A or B?", "Are A and B both ...?") are kept whole without asking the LLM
(:func:`is_comparison`): both sides are named in the question, so one retrieval finds them, and a
split into per-side sub-questions loses the comparison itself. Each sub-question
inherits the question's time scope, narrowed by any time expression of its own; later sub-questions
are rewritten with earlier answers by :func:`rewrite`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from reasoning.scope import narrow, scope_from_text
from tgrag.kernel.protocols import LLM
from tgrag.kernel.records import LLMRequest, Message, Usage
from tgrag.kernel.temporal import TimeInterval

_REF = re.compile(r"#(\d+)")
_LAST_OR = re.compile(r"\bor\b(?!.*\bor\b)(?P<tail>[^?]*)\?\s*$", re.IGNORECASE | re.DOTALL)
_WH = re.compile(r"\b(?:who|whom|whose|what|which|where|when|why|how)\b", re.IGNORECASE)
_YES_NO_BOTH = re.compile(r"^(?:are|were|is|was|do|does|did|have|has)\b.*\b(?:both|the same|either)\b",
                          re.IGNORECASE | re.DOTALL)
_MAX_CHOICE_WORDS = 8


def is_comparison(question: str) -> bool:
    """A choice between named options ("Who was born first, A or B?": the last "or" is followed by a
    short option, not by a clause with a question word) or a yes/no question about two things
    ("Are A and B both American?", "Do A and B have the same nationality?")."""
    q = question.strip()
    m = _LAST_OR.search(q)
    if m and not _WH.search(m.group("tail")) and len(m.group("tail").split()) <= _MAX_CHOICE_WORDS:
        return True
    return bool(_YES_NO_BOTH.search(q))


_RELATIVE = re.compile(r"\b(?:who|whom|whose|that|which|where|when)\b", re.IGNORECASE)
# a description of the answer's neighbour as the object of a verb: "owns the maker of the X",
# "the spouse of the director of X" (after "is/was the ..." the first "the N of" is the relation itself)
_OF_CHAIN = re.compile(r"(?:\b(?!is\b|was\b|are\b|were\b|be\b)\w+\s+the\s+\w+\s+of\s+the\b|"
                       r"\bof\s+(?:the|a|an)\s+(?:\w+\s+){0,3}?\w+\s+(?:of|by|for|from|who|that)\b)",
                       re.IGNORECASE)
_POSSESSIVE = re.compile(r"\w+['’]s\s+\w+", re.IGNORECASE)


def looks_single_hop(question: str) -> bool:
    """LLM-free check: no relative clause after the question word ("the company *that* makes X"),
    no chain of nested descriptions ("the maker *of the* Pico-7 drone's owner"), at most one
    possessive. Such a question names its entity directly and needs one retrieval, not a split."""
    words = question.strip().split()
    lead = next((i for i, w in enumerate(words[:3]) if _WH.fullmatch(w.lower().strip("?,"))), 0)
    rest = " ".join(words[lead + 1:])  # after the question word ("In which town ...": after "which")
    if _RELATIVE.search(rest) or _OF_CHAIN.search(question):
        return False
    return len(_POSSESSIVE.findall(question)) <= 1


_REL_CLAUSE = re.compile(r"\bthe\s+(?P<noun>(?:[a-z]+\s+){0,2}?[a-z]+)\s+(?P<rel>that|which|who|whom)\s+",
                         re.IGNORECASE)
_OF_DESC = re.compile(r"(?<=\s)the\s+(?P<noun>[a-z]+(?:\s+[a-z]+)?)\s+of\s+(?P<rest>.+?)\s*\?\s*$",
                      re.IGNORECASE)


_NOT_NOUN = frozenset(["is", "was", "are", "were", "be", "been", "in", "on", "at", "of", "for", "from", "by", "to", "with", "and", "or", "as", "located", "based", "born", "headquartered", "founded"])


def _extend_noun(q: str, end: int) -> int:
    """Extend an entity's end over up to two following common nouns ("the Pico-7 *drone*"), stopping
    at verbs, participles and prepositions ("Brightmoor Foods *headquartered*")."""
    for _ in range(2):
        m = re.match(r"\s+([a-z][a-z-]*)", q[end:])
        if not m or m.group(1) in _NOT_NOUN or m.group(1).endswith(("ed", "ing")):
            break
        end += m.end()
    return end


def bridge_split(question: str, entity_spans: list[tuple[int, int]]) -> list[str] | None:
    """LLM-free split of a bridge question whose description of the bridge entity names another
    entity: "Who founded *the company that makes the Pico-7 drone*?" → ["Which company makes the
    Pico-7 drone?", "Who founded #1?"]; "Which company owns *the maker of the Pico-7 drone*?" →
    ["Who is the maker of the Pico-7 drone?", "Which company owns #1?"]. The description ends where
    the first named entity after it ends (``entity_spans``: character spans of linked entities).
    None when the question has no such description."""
    q = question.strip()
    m = _REL_CLAUSE.search(q)
    if m and m.start() > 0:
        after = [e for s, e in entity_spans if s >= m.end()]
        if after:
            end = _extend_noun(q, min(after))
            clause = q[m.end(): end].strip()
            if clause:
                inner = f"Which {m.group('noun')} {clause}?" if m.group("rel").lower() in ("that", "which") \
                    else f"Who {clause}?"
                outer = (q[: m.start()] + "#1" + q[end:]).strip()
                if not outer.endswith("?"):
                    outer = outer.rstrip(".") + "?"
                return [inner, re.sub(r"\s+", " ", outer)]
    m2 = _OF_DESC.search(q)
    if m2 and any(s >= m2.start("rest") for s, _ in entity_spans):
        head = q[: m2.start()].strip()
        words = head.split()
        if len(words) >= 2 and words[-1].lower() not in ("is", "was", "are", "were"):
            rest = m2.group("rest").rstrip("?").strip()
            return [f"Who or what is the {m2.group('noun')} of {rest}?", f"{head} #1?"]
    return None


@dataclass(frozen=True, slots=True)
class SubQuestion:
    index: int  # 1-based
    text: str
    depends_on: tuple[int, ...]
    scope: TimeInterval | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "text": self.text, "depends_on": list(self.depends_on),
                "scope": self.scope.label() if self.scope else None}


@dataclass(frozen=True, slots=True)
class Decomposition:
    question: str
    subquestions: tuple[SubQuestion, ...]
    attempts: int = 0
    errors: tuple[str, ...] = ()
    usage: Usage = field(default_factory=Usage)
    reason: str = ""  # why it was not sent to the LLM ("comparison"), empty otherwise

    @property
    def is_split(self) -> bool:
        return len(self.subquestions) > 1

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "subquestions": [s.to_dict() for s in self.subquestions],
                "attempts": self.attempts, "errors": list(self.errors), "usage": self.usage.to_dict(),
                "reason": self.reason}


class DecompositionError(ValueError):
    """A decomposition reply that fails validation (kept internal: it triggers a retry)."""


def load_prompt() -> dict[str, Any]:
    text = resources.files("reasoning").joinpath("prompts/decompose.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return data  # type: ignore[no-any-return]


def parse_subquestions(reply: str, *, max_subquestions: int) -> list[str]:
    """Validate an LLM reply; raises DecompositionError with the reason."""
    m = re.search(r"\{.*\}", reply, re.DOTALL)
    if not m:
        raise DecompositionError("no JSON object in reply")
    try:
        data = json.loads(m.group(0))
    except json.JSONDecodeError as e:
        raise DecompositionError(f"invalid JSON: {e.msg}") from e
    subs = data.get("subquestions") if isinstance(data, dict) else None
    if not isinstance(subs, list) or not subs:
        raise DecompositionError("'subquestions' must be a non-empty list")
    if len(subs) > max_subquestions:
        raise DecompositionError(f"{len(subs)} sub-questions, at most {max_subquestions}")
    out = []
    for i, s in enumerate(subs, start=1):
        if not isinstance(s, str) or not s.strip():
            raise DecompositionError(f"sub-question {i} is not a non-empty string")
        refs = [int(r) for r in _REF.findall(s)]
        if any(r < 1 or r >= i for r in refs):
            raise DecompositionError(f"sub-question {i} refers to a later or missing answer: {s!r}")
        out.append(s.strip())
    return out


def build_tree(question: str, texts: list[str], scope: TimeInterval | None, *, scoped: bool = True
               ) -> tuple[SubQuestion, ...]:
    """Sub-questions with their dependencies; with ``scoped``, each narrows ``scope`` by its own
    time expression (without, every scope is None: the time-scope ablation)."""
    subs = []
    for i, text in enumerate(texts, start=1):
        own = scope_from_text(text) if scoped else []
        child = own[0].interval if len(own) == 1 else None
        subs.append(SubQuestion(i, text, tuple(sorted({int(r) for r in _REF.findall(text)})),
                                narrow(scope, child) if scoped else None))
    return tuple(subs)


def rewrite(text: str, answers: dict[int, str]) -> str:
    """Replace ``#n`` with the answer of sub-question n (left as is when unknown)."""
    return _REF.sub(lambda m: answers.get(int(m.group(1)), m.group(0)) or m.group(0), text)


class Decomposer:
    def __init__(self, llm: LLM, *, retries: int = 2, max_subquestions: int = 5, max_tokens: int = 160,
                 retry_temperature: float = 0.5, keep_comparisons: bool = True) -> None:
        self.llm = llm
        self.keep_comparisons = keep_comparisons
        self.retry_temperature = retry_temperature
        self.retries = retries
        self.max_subquestions = max_subquestions
        self.max_tokens = max_tokens
        self.prompt = load_prompt()

    def messages(self, question: str) -> tuple[Message, ...]:
        msgs = [Message("system", self.prompt["system"])]
        for ex in self.prompt["examples"]:
            msgs.append(Message("user", f"Question: {ex['question']}"))
            msgs.append(Message("assistant", json.dumps({"subquestions": ex["subquestions"]})))
        msgs.append(Message("user", f"Question: {question}"))
        return tuple(msgs)

    def decompose(self, question: str, *, scope: TimeInterval | None = None, scoped: bool = True,
                  entity_spans: list[tuple[int, int]] | None = None) -> Decomposition:
        if self.keep_comparisons and is_comparison(question):
            return Decomposition(question, build_tree(question, [question], scope, scoped=scoped),
                                 reason="comparison")
        if entity_spans:
            split = bridge_split(question, entity_spans)
            if split is not None:  # a described bridge entity: split without asking the LLM
                return Decomposition(question, build_tree(question, split, scope, scoped=scoped),
                                     reason="bridge description")
        usage = Usage()
        errors: list[str] = []
        msgs = self.messages(question)
        for attempt in range(1, self.retries + 2):
            # a retry samples (temperature > 0): a greedy retry would repeat the same invalid reply
            resp = self.llm.complete(LLMRequest(msgs, max_tokens=self.max_tokens,
                                                temperature=0.0 if attempt == 1 else self.retry_temperature,
                                                json_mode=True, seed=attempt - 1))
            usage = usage + resp.usage
            try:
                texts = parse_subquestions(resp.text, max_subquestions=self.max_subquestions)
            except DecompositionError as e:
                errors.append(str(e))
                continue
            return Decomposition(question, build_tree(question, texts, scope, scoped=scoped), attempt, tuple(errors), usage)
        return Decomposition(question, build_tree(question, [question], scope, scoped=scoped), self.retries + 1,
                             tuple(errors), usage)
