"""Insert order does not matter: A then B, B then A and one batch A + B give the same index, with
the passage graph; a delete gives what a build of the rest gives. An entity's name and type come
from all of its mentions (the most frequent surface form and type, ties to the smallest), never from
whichever was inserted first."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from graph_index.entities import EmbeddingEntityResolver, canonical, merge_mentions
from graph_index.protocols import EntityMention, ExtractionResult, RawFact
from tgrag.facade import TemporalGraphRAG
from tgrag.kernel.records import Entity, Passage
from tgrag.testing import HashingEmbedder, ScriptedLLM

_TYPED = re.compile(r"^(.+?) \[([A-Z]+)\]$")


class TypedLineExtractor:
    """Stands in for the NER model: each "Subject [TYPE] | predicate | Object [TYPE]" line of a
    passage is one fact and two typed mentions (the model types one name differently by context)."""

    name = "typed-lines"

    def extract(self, passages: Sequence[Passage]) -> ExtractionResult:
        mentions: list[EntityMention] = []
        facts: list[RawFact] = []
        for p in passages:
            for line in p.text.split(". "):
                parts = [x.strip(" .") for x in line.split("|")]
                if len(parts) != 3:
                    continue
                (s, st), pred, (o, ot) = _typed(parts[0]), parts[1], _typed(parts[2])
                mentions += [EntityMention(s, st, p.passage_id), EntityMention(o, ot, p.passage_id)]
                facts.append(RawFact(s, st, pred, o, True, ot, p.date, p.date.start if p.date else None,
                                     p.passage_id, p.doc_id, 0.8, line))
        return ExtractionResult(tuple(mentions), tuple(facts))


def _typed(text: str) -> tuple[str, str]:
    m = _TYPED.match(text)
    assert m is not None, text
    return m.group(1), m.group(2)


DOCS = {
    "a": {"id": "a", "title": "Policy Xenon", "date": "2020-02-01",
          "text": "Policy Xenon [MISC] | issued by | indian government [ORG]. Policy Xenon covers Project Yarrow."},
    "b": {"id": "b", "title": "Project Yarrow", "date": "2021-05-01",
          "text": "Indian Government [PERSON] | funds | Project Yarrow [ORG]. Project Yarrow follows Policy Xenon."},
    "c": {"id": "c", "title": "Project Zeta", "date": "2021-06-01",
          "text": "Indian Government [ORG] | funds | Project Zeta [ORG]. Project Zeta extends Project Yarrow."},
}


def build(*batches: Sequence[str], docs: dict[str, dict[str, str]] = DOCS,
          lexical_merging: bool = False) -> TemporalGraphRAG:
    rag = TemporalGraphRAG.open(None, embedder=HashingEmbedder(), llm=ScriptedLLM(default=""),
                                extractor=TypedLineExtractor(), show_progress=False)
    if lexical_merging:  # near duplicates merge on spelling alone (no embedding check)
        rag.indexer.resolver = EmbeddingEntityResolver(None)
    for batch in batches:
        rag.insert([docs[d] for d in batch])
    return rag


def state(rag: TemporalGraphRAG) -> dict[str, Any]:
    g = rag.graph
    return {kind: sorted(json.dumps(r.to_dict(), sort_keys=True) for r in records)
            for kind, records in (("entities", g.entities()), ("facts", g.facts()),
                                  ("time_nodes", g.time_nodes()), ("hops", g.hops()))}


def government(rag: TemporalGraphRAG) -> Entity:
    found = [e for e in rag.graph.entities() if e.name.lower() == "indian government"]
    assert len(found) == 1, found
    return found[0]


def test_insert_order_and_batching_give_one_index() -> None:
    one = build("abc")
    expected = state(one)
    assert expected["hops"] and expected["facts"] and expected["time_nodes"]
    ent = government(one)
    # "Indian Government" is in 2 passages, "indian government" in 1; ORG in 2, PERSON in 1
    assert (ent.name, ent.type, ent.aliases) == ("Indian Government", "ORG", ("indian government",))
    # a hop's question names the entity as the whole corpus names it, even from a passage inserted
    # before the name changed (its text spells it "indian government", which no span finds)
    assert any(json.loads(h)["query"] == "Who or what is Indian Government?" for h in expected["hops"])
    for batches in (["a", "bc"], ["bc", "a"], ["b", "a", "c"], ["c", "b", "a"]):
        assert state(build(*batches)) == expected, batches


def test_delete_re_derives_name_and_type_from_the_remaining_mentions() -> None:
    rag = build("abc")
    rag.delete("b")
    rag.delete("c")
    ent = government(rag)
    assert (ent.name, ent.type, ent.aliases) == ("indian government", "ORG", ())
    assert state(rag) == state(build("a"))
    rag.insert([DOCS["b"]])  # a tie: one passage each; the smaller name and type win
    assert (government(rag).name, government(rag).type) == ("Indian Government", "ORG")
    assert state(rag) == state(build("ab"))


def test_canonical_is_a_function_of_the_set_of_forms() -> None:
    forms = [("p1", "Acme", "ORG"), ("p2", "ACME", "PERSON"), ("p3", "ACME", "ORG"), ("p3", "Acme", "")]
    assert canonical(forms) == canonical(reversed(forms)) == ("ACME", "ORG")  # ACME 2 = Acme 2: "ACME" < "Acme"
    assert canonical([("p1", "x", "")]) == ("x", "")
    assert canonical([]) is None
    ent = Entity.make("Acme", "acme", type="PERSON")
    once = merge_mentions(ent, forms=forms)
    split = merge_mentions(merge_mentions(ent, forms=forms[2:]), forms=forms[:2])
    assert once == split
    assert (once.name, once.type, once.aliases, once.mentions) == ("ACME", "ORG", ("Acme",), ("p1", "p2", "p3"))
    left = merge_mentions(once, remove=["p2", "p3"])
    assert (left.name, left.type, left.mentions, left.forms) == ("Acme", "ORG", ("p1",), (("p1", "Acme", "ORG"),))


NEAR = {
    "p": {"id": "p", "title": "Election", "date": "2019-12-12",
          "text": "Conservatives [ORG] | won | General Election [EVENT]. Conservatives [ORG] | holds | Seat Aldan [GPE]."},
    "q": {"id": "q", "title": "Cabinet", "date": "2020-02-13",
          "text": "Conservative [ORG] | leads | Cabinet Office [ORG]. The Conservative cabinet met."},
}


def build_near(*batches: Sequence[str]) -> TemporalGraphRAG:
    return build(*batches, docs=NEAR, lexical_merging=True)


def test_a_near_duplicate_seen_first_gets_the_id_a_one_batch_build_gives() -> None:
    """"Conservatives" first, then "Conservative": the merged entity moves to its key id (the
    smallest normal form's), with its facts re-made, as the one-batch build has it; a delete of
    the spelling that gave the key moves it back."""
    from graph_index.entities import entity_id_for, key_id

    one = build_near("pq")
    ents = [e for e in one.graph.entities() if e.name.startswith("Conservative")]
    assert len(ents) == 1 and ents[0].entity_id == entity_id_for("Conservative") == key_id(ents[0])
    assert (ents[0].name, ents[0].aliases) == ("Conservative", ("Conservatives",))  # a tie: the smaller
    expected = state(one)
    for batches in (["p", "q"], ["q", "p"]):
        rag = build_near(*batches)
        assert state(rag) == expected, batches
        assert all(f.subject in {e.entity_id for e in rag.graph.entities()} for f in rag.graph.facts())
    rag = build_near("p", "q")
    rag.delete("q")
    assert state(rag) == state(build_near("p"))
    assert [e.entity_id for e in rag.graph.entities() if e.name == "Conservatives"] == [entity_id_for("Conservatives")]
