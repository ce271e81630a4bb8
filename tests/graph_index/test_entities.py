from __future__ import annotations

from graph_index.entities import EmbeddingEntityResolver, EntityTable, entity_id_for, normal_form, typo_like
from tgrag.testing import HashingEmbedder


def test_normal_form() -> None:
    assert normal_form("The Apple, Inc.") == "apple"
    assert normal_form("Apple Inc") == normal_form("apple") == "apple"
    assert normal_form("Acme Holdings Ltd.") == "acme holdings"
    assert normal_form("Pär Mårts") == "par marts"
    assert normal_form("The Left") == "left"
    assert entity_id_for("Apple Inc.") == entity_id_for("APPLE")


def test_typo_like_guards_numbers_and_siblings() -> None:
    assert typo_like("barack obama", "barak obama")
    assert not typo_like("member of the 6th parliament", "member of the 7th parliament")
    assert not typo_like("university of bonn", "university of graz")


def test_resolver_merges_aliases_and_keeps_them() -> None:
    table = EntityTable()
    res = EmbeddingEntityResolver(HashingEmbedder(), threshold=0.0)
    ids = res.resolve([("Apple", "ORG"), ("Apple Inc.", "ORG"), ("Barack Obama", "PERSON")], table)
    assert ids[("Apple", "ORG")] == ids[("Apple Inc.", "ORG")]
    apple = table.get(ids[("Apple", "ORG")])
    assert apple is not None and apple.name == "Apple" and "Apple Inc." in apple.aliases
    ids2 = res.resolve([("Barak Obama", "PERSON"), ("University of Bonn", "ORG"),
                        ("University of Graz", "ORG"), ("Barak Obama", "ORG")], table)
    assert ids2[("Barak Obama", "PERSON")] == ids[("Barack Obama", "PERSON")]
    assert ids2[("University of Bonn", "ORG")] != ids2[("University of Graz", "ORG")]
    assert "Barak Obama" in table.get(ids[("Barack Obama", "PERSON")]).aliases  # type: ignore[union-attr]
    assert table.lookup("barak obama") is not None


def test_embedding_threshold_blocks_merge() -> None:
    table = EntityTable()
    res = EmbeddingEntityResolver(HashingEmbedder(), threshold=0.99)
    a = res.resolve([("Barack Obama", "PERSON")], table)[("Barack Obama", "PERSON")]
    b = res.resolve([("Barak Obama", "PERSON")], table)[("Barak Obama", "PERSON")]
    assert a != b
