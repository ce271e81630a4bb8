"""Prompts of the LLM fact extractor (few-shot, JSON output)."""

from __future__ import annotations

EXTRACT_SYSTEM = (
    "You extract facts from text as JSON. Output only a JSON object, no prose, no code fences."
)

EXTRACT_PROMPT = """Extract the facts stated in the passage as (subject, predicate, object) triples with their time.
Rules:
- subject: a named entity (person, organisation, place, ...) exactly as written.
- predicate: a short lower-case relation, e.g. "chair of", "chief executive officer of", "acquire",
  "play for", "work for", "revenue".
- object: a named entity exactly as written, or a literal value such as "$2.1 billion".
- object_is_entity: true when the object is a named entity, false for a literal.
- time: the time expression from the passage that the fact holds at, copied verbatim
  (e.g. "from Jan, 2006 to Jan, 2015", "14 March 2019", "Q3 2024"), or null if none is stated.
Return {{"facts": [{{"subject": ..., "predicate": ..., "object": ..., "object_is_entity": ..., "time": ...}}, ...]}}.

Example passage: On 14 March 2019, Acme acquired Beta. Jane Doe is the chair of Acme from Jan, 2006 to Jan, 2015.
Example output: {{"facts": [{{"subject": "Acme", "predicate": "acquire", "object": "Beta", "object_is_entity": true, "time": "14 March 2019"}}, {{"subject": "Jane Doe", "predicate": "chair of", "object": "Acme", "object_is_entity": true, "time": "from Jan, 2006 to Jan, 2015"}}]}}

Passage{title}: {text}
Output:"""

RETRY_SUFFIX = "\n\nYour previous output was invalid ({error}). Output only the JSON object."
