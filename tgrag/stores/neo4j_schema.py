"""The one place holding graph-server DDL and the fixed label/relationship names.

Labels and the relationship type come from this fixed, validated set; no Cypher is ever built from
user text. ``schema_statements(flavor)`` is the single bootstrap function:

- ``"neo4j"`` (Neo4j 5.x): uniqueness constraints on ``id`` (each backed by a range index), range
  indexes on the fact lookup properties, a relationship-property index on ``TG_RELATES.fid``, then
  ``CALL db.awaitIndexes`` because Neo4j populates indexes in the background.
- ``"arcadedb"`` (ArcadeDB's Bolt plugin): the same constraint and index DDL, which ArcadeDB maps
  onto its own unique/non-unique LSM-tree indexes (it ignores the names and lists constraints as
  indexes); indexes are built synchronously and ``db.awaitIndexes`` does not exist there, so it
  is left out. Vector/full-text index DDL (not used by the graph store) would differ more: see
  docs/NEO4J.md.

Every node and relationship carries ``ns``, the index it belongs to, and nodes are unique on
``key`` (``ns`` + "/" + ``id``), so several indexes share one database without seeing each other.
(Databases written before namespaces hold ``tgrag_*_id`` uniqueness constraints on ``id``: drop them.)

All statements are idempotent (``IF NOT EXISTS``).
"""

from __future__ import annotations

import re

LABELS = {"entity": "TgEntity", "fact": "TgFact", "time_node": "TgTimeNode", "hop": "TgHop", "meta": "TgMeta"}
REL = "TG_RELATES"
FLAVORS = frozenset({"neo4j", "arcadedb"})

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
for _name in (*LABELS.values(), REL):
    if not _NAME.match(_name):  # guards against an edit ever putting something unsafe here
        raise ValueError(f"invalid graph label or relationship type {_name!r}")

_UNIQUE_KEY = tuple(LABELS.values())
_NODE_INDEXES = (
    *((label, "ns") for label in LABELS.values()),
    (LABELS["fact"], "subject"),
    (LABELS["fact"], "object"),
    (LABELS["fact"], "predicate"),
    (LABELS["fact"], "passage"),
    (LABELS["hop"], "src"),
    (LABELS["hop"], "dst"),
)
_REL_INDEXES = ((REL, "fid"), (REL, "ns"))


def schema_statements(flavor: str) -> list[str]:
    """Idempotent DDL creating every constraint and index the graph store relies on."""
    if flavor not in FLAVORS:
        raise ValueError(f"unknown graph server flavor {flavor!r}; expected one of {sorted(FLAVORS)}")
    stmts = [f"CREATE CONSTRAINT tgrag_{label.lower()}_key IF NOT EXISTS "
             f"FOR (n:{label}) REQUIRE n.key IS UNIQUE" for label in _UNIQUE_KEY]
    stmts += [f"CREATE INDEX tgrag_{label.lower()}_{prop} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})"
              for label, prop in _NODE_INDEXES]
    stmts += [f"CREATE INDEX tgrag_{rel.lower()}_{prop} IF NOT EXISTS FOR ()-[r:{rel}]-() ON (r.{prop})"
              for rel, prop in _REL_INDEXES]
    if flavor == "neo4j":
        stmts.append("CALL db.awaitIndexes(300)")
    return stmts
