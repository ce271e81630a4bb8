"""Reader: citations, abstention, normalisation — with a scripted LLM."""

from __future__ import annotations

from reasoning.reader import Reader, is_abstention, normalise_answer
from tgrag.kernel import Evidence, EvidenceKind, TimeInterval
from tgrag.testing import ScriptedLLM

EV = [Evidence(EvidenceKind.PASSAGE, "psg:1", "Mara Ellison became CEO of Veltrane in 2019.",
               date=TimeInterval.from_label("2019")),
      Evidence(EvidenceKind.PASSAGE, "psg:2", "Veltrane builds drones.")]


def test_answer_with_citation() -> None:
    llm = ScriptedLLM([("Question:", "Answer: Mara Ellison.\nCitations: [1]")])
    r = Reader(llm).read("Who became CEO of Veltrane in 2019?", EV)
    assert (r.text, r.abstained, r.cited, r.citations_inferred) == ("Mara Ellison", False, (1,), False)
    prompt = llm.calls[0].messages[-1].content
    assert "[1] (2019) Mara Ellison" in prompt and "[2] Veltrane builds drones." in prompt


def test_missing_citation_is_inferred_from_evidence_text() -> None:
    r = Reader(ScriptedLLM(default="Answer: drones")).read("What does Veltrane build?", EV)
    assert r.cited == (2,) and r.citations_inferred


def test_unknown_is_abstention_and_no_evidence_means_no_call() -> None:
    llm = ScriptedLLM(default="Answer: unknown\nCitations: none")
    assert Reader(llm).read("Who ran Veltrane in 2012?", EV).abstained
    empty = ScriptedLLM()
    r = Reader(empty).read("anything", [])
    assert r.abstained and empty.calls == []


def test_out_of_range_citations_are_dropped() -> None:
    r = Reader(ScriptedLLM(default="Answer: Mara Ellison\nCitations: [7], [1]")).read("q", EV)
    assert r.cited == (1,)


def test_normalise_and_abstention_words() -> None:
    assert normalise_answer('The answer is "Mara Ellison". [1]') == "Mara Ellison"
    assert normalise_answer("") == ""
    assert is_abstention("Unknown.") and is_abstention("not enough information")
    assert not is_abstention("Mara Ellison")
