"""Prompts of the experiment baselines (the tgrag loop keeps its own in ``reasoning``)."""

from __future__ import annotations

IRCOT_SYSTEM = (
    "You answer a multi-hop question step by step, using only the numbered evidence. "
    "Write ONLY the next single sentence of reasoning (one new fact you need or found). "
    "When the evidence gives the final answer, write: So the answer is: <short answer>"
)

IRCOT_USER = "Evidence:\n{evidence}\n\nQuestion: {question}\nReasoning so far: {so_far}\nNext sentence:"

IRCOT_DONE_MARKERS = ("so the answer is", "the answer is:")
