"""Evidence assembly: passages + KG facts in scope + period summaries, de-duplicated, within budget."""

from __future__ import annotations

from reasoning.evidence import assemble, is_period_scope, kg_fact_evidence, scope_sentences, summary_evidence
from tgrag.kernel.records import Entity, Evidence, EvidenceKind, Fact, TimeLevel, TimeNode
from tgrag.kernel.temporal import TimeInterval
from tgrag.stores.networkx_store import NetworkXGraphStore


def ev(ref: str, text: str, kind: EvidenceKind = EvidenceKind.PASSAGE) -> Evidence:
    return Evidence(kind, ref, text)


def test_assemble_dedupes_by_record_and_text_and_keeps_order():
    out = assemble([[ev("p1", "Alpha beta."), ev("p2", "Gamma.")],
                    [ev("p1", "Alpha beta."), ev("p3", "alpha  BETA."), ev("f1", "Delta.", EvidenceKind.FACT)]],
                   max_tokens=1000)
    assert [e.ref_id for e in out] == ["p1", "p2", "f1"]


def test_assemble_respects_the_token_budget_but_keeps_the_first_item():
    long = " ".join(["word"] * 100)
    out = assemble([[ev("p1", long), ev("p2", long), ev("p3", "short one")]], max_tokens=150)
    assert [e.ref_id for e in out] == ["p1", "p3"]
    assert [e.ref_id for e in assemble([[ev("p1", long)]], max_tokens=5)] == ["p1"]


def test_assemble_and_reader_count_the_same_lines_with_the_given_tokenizer():
    from reasoning.evidence import evidence_line
    from reasoning.reader import format_evidence

    chars = len  # a "tokenizer" that counts characters: very different from the word estimate
    items = [ev(f"p{i}", f"alpha beta gamma delta {i} " * 5) for i in range(6)]
    budget = sum(chars(evidence_line(i + 1, e)) + 1 for i, e in enumerate(items[:3]))
    out = assemble([items], max_tokens=budget, count=chars)
    assert [e.ref_id for e in out] == ["p0", "p1", "p2"]
    block, shown = format_evidence(out, budget, chars)  # the reader shows exactly what was assembled
    assert shown == 3 and block.count("\n") == 2


def _graph() -> tuple[NetworkXGraphStore, Entity]:
    g = NetworkXGraphStore()
    acme = Entity.make("Acme Dyes", "acme dyes", type="ORG")
    lind = Entity.make("Maria Lind", "maria lind", type="PERSON")
    berg = Entity.make("Oskar Berg", "oskar berg", type="PERSON")
    f_old = Fact.make(acme.entity_id, "led by", lind.entity_id, object_is_entity=True,
                      valid=TimeInterval.from_label("2020"), observed_at=None, source_passage_id="psg:1",
                      doc_id="doc:1", text="Acme Dyes was led by Maria Lind.")
    f_new = Fact.make(acme.entity_id, "led by", berg.entity_id, object_is_entity=True,
                      valid=TimeInterval.from_label("2023"), observed_at=None, source_passage_id="psg:2",
                      doc_id="doc:2")
    node = TimeNode(TimeNode.id_for(TimeInterval.from_label("2023")), TimeLevel.YEAR,
                    TimeInterval.from_label("2023"), None, "In 2023 Oskar Berg took over Acme Dyes.")
    g.upsert([acme, lind, berg, f_old, f_new, node])
    return g, acme


def test_kg_facts_valid_in_scope_with_text_or_rendered_triple():
    g, acme = _graph()
    got = kg_fact_evidence(g, [acme], TimeInterval.from_label("2023"))
    assert [e.text for e in got] == ["Acme Dyes led by Oskar Berg"]
    assert got[0].kind is EvidenceKind.FACT and got[0].date == TimeInterval.from_label("2023")
    assert len(kg_fact_evidence(g, [acme], None)) == 2


def test_period_summary_only_for_calendar_periods():
    g, _ = _graph()
    assert [e.text for e in summary_evidence(g, TimeInterval.from_label("2023"))] == \
        ["In 2023 Oskar Berg took over Acme Dyes."]
    assert summary_evidence(g, TimeInterval.from_label("2022")) == []
    open_scope = TimeInterval(None, TimeInterval.from_label("2023").end)
    assert not is_period_scope(open_scope) and summary_evidence(g, open_scope) == []


def test_scope_sentences_keeps_undated_and_in_scope_sentences_only():
    text = ("Mark Gower plays for Barnet F.C. from Jan, 2001 to Jan, 2003. \n "
            "Mark Gower plays for Ebbsfleet United F.C. from Jan, 2015 to Jan, 2015. He is a midfielder.")
    dated = Evidence(EvidenceKind.PASSAGE, "p2", "Written in 1999.", date=TimeInterval.from_label("2015"))
    out = scope_sentences([ev("p1", text), ev("p3", "Barnet F.C. in 2001."), dated],
                          TimeInterval.from_label("2015-01"))
    assert [e.ref_id for e in out] == ["p1", "p2"]
    assert out[0].text == "Mark Gower plays for Ebbsfleet United F.C. from Jan, 2015 to Jan, 2015. He is a midfielder."
    assert out[1] is dated
    assert scope_sentences([ev("p1", text)], None)[0].text == text


def _ent(name: str, *mentions: str) -> Entity:
    return Entity.make(name, name.lower(), mentions=tuple(mentions))


def test_entity_focus_puts_the_passages_about_the_entities_first():
    from reasoning.evidence import focus_on_entities

    ps = [ev("p1", "Arsenal signed a winger in 2001."), ev("p2", "Bernard joined Rangers in 2005."),
          ev("p3", "Newcastle United won the cup."), ev("p4", "Olivier Bernard was born in Paris."),
          ev("p5", "He played for Newcastle United.")]
    bernard = _ent("Olivier Bernard", "p5")  # p5 is a linked mention; p2 names him by surname, p4 in full
    assert [e.ref_id for e in focus_on_entities(ps, [bernard], 3, mode="fill")] == ["p2", "p4", "p5"]
    assert [e.ref_id for e in focus_on_entities(ps, [bernard], 4, mode="fill")] == ["p2", "p4", "p5", "p1"]
    assert [e.ref_id for e in focus_on_entities(ps, [bernard], 5, mode="only")] == ["p2", "p4", "p5"]
    assert [e.ref_id for e in focus_on_entities(ps, [bernard], 2, mode="off")] == ["p1", "p2"]


def test_entity_focus_keeps_the_retrieval_order_without_a_specific_entity():
    import pytest

    from reasoning.evidence import focus_on_entities
    from tgrag.kernel.errors import ConfigError

    ps = [ev("p1", "Arsenal signed a winger."), ev("p2", "Rangers lost."), ev("p3", "John Smith scored.")]
    common = _ent("John", *[f"x{i}" for i in range(60)], "p3")  # linked to 61 passages: says little
    assert [e.ref_id for e in focus_on_entities(ps, [common], 2, mode="only")] == ["p1", "p2"]
    assert [e.ref_id for e in focus_on_entities(ps, [_ent("Zed Q")], 2, mode="only")] == ["p1", "p2"]
    assert [e.ref_id for e in focus_on_entities(ps, [], 2, mode="fill")] == ["p1", "p2"]
    with pytest.raises(ConfigError, match="entity_focus"):
        focus_on_entities(ps, [], 2, mode="sometimes")


def test_entity_focus_settings_are_checked():
    import pytest

    from reasoning.settings import ReasoningSettings
    from tgrag.kernel.errors import ConfigError

    with pytest.raises(ConfigError, match="entity_focus"):
        ReasoningSettings(entity_focus="always")
    with pytest.raises(ConfigError, match="focus_depth"):
        ReasoningSettings(focus_depth=0)
    assert ReasoningSettings(k=20).k == 20  # a k above focus_depth is fine: the focus then reads k
