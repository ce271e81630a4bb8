"""Entity normal forms, an in-memory entity table, and near-duplicate resolution.

Merging policy (documented, deterministic):

1. **Normal form** — case-folded, accents stripped, punctuation dropped, a leading "the" and trailing
   corporate suffixes ("Inc.", "Ltd", "Corp", "LLC", "plc", "GmbH", …) removed. Names with the same
   normal form are the same entity; its id is ``Entity.make(..., normal_form)``'s content id.
2. **Near duplicates** — a new normal form is compared with existing entities *of the same type*
   that share a blocking key (first or last four letters). It is merged as an alias when the token
   difference is typo-like (every differing token pairs with one at character similarity ≥ 0.8), the
   numbers in both names are identical ("6th Parliament" never merges with "7th Parliament"), and the
   embedding cosine of the two names is ≥ ``threshold``. Lexical gating keeps the embedding from
   merging siblings such as "University of Bonn" / "University of Graz".

3. **Canonical name and type** — a function of the set of (passage, surface form, type) mentions
   (:func:`canonical`): the surface form seen in the most passages, ties to the lexicographically
   smallest; the same for the type. Inserting in any order or in any batches gives the same entity,
   and a delete re-derives both from the mentions that remain. Every other surface form is an alias.
4. **Id** — also a function of the forms (:func:`key_id`): the content id of the smallest normal
   form among them. A near duplicate seen before the name it merges into ("Conservatives" before
   "Conservative") would otherwise keep the id of whichever spelling came first; the indexer moves
   such an entity, and the facts on it, to its key id, so an incremental build equals a one-batch
   build and a delete gives what a build of the rest gives.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import insort
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from difflib import SequenceMatcher

import numpy as np

from tgrag.kernel.protocols import Embedder
from tgrag.kernel.records import Entity, content_id

_CORP_SUFFIXES = frozenset({
    "inc", "incorporated", "ltd", "limited", "llc", "corp", "corporation", "co", "plc", "gmbh", "ag",
    "sa", "nv", "bv", "lp", "llp", "pty", "srl", "spa",
})
_PUNCT = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def normal_form(name: str) -> str:
    """Canonical key of a name: "The Apple, Inc." → "apple"; "Pär Mårts" → "par marts"."""
    s = strip_accents(name).casefold().replace("'s ", " ").replace("&", " and ")
    s = _SPACE.sub(" ", _PUNCT.sub(" ", s)).strip()
    toks = s.split(" ") if s else []
    while len(toks) > 1 and toks[0] == "the":
        toks = toks[1:]
    while len(toks) > 1 and toks[-1] in _CORP_SUFFIXES:
        toks = toks[:-1]
    return " ".join(toks)


def entity_id_for(name: str) -> str:
    """The id an entity named ``name`` gets when it is not merged into another one."""
    return content_id("ent", normal_form(name))


def _blocking_keys(norm: str) -> tuple[str, ...]:
    flat = norm.replace(" ", "")
    if len(flat) < 4:
        return (flat,)
    return (flat[:4], flat[-4:])


def typo_like(a: str, b: str, *, min_ratio: float = 0.8) -> bool:
    """True when normal forms ``a`` and ``b`` differ only by typo-like token edits, same numbers."""
    if a == b:
        return True
    if sorted(_DIGITS.findall(a)) != sorted(_DIGITS.findall(b)):
        return False
    ta, tb = a.split(), b.split()
    only_a = sorted(set(ta) - set(tb))
    only_b = sorted(set(tb) - set(ta))
    if len(only_a) != len(only_b) or not only_a:
        return False
    for x, y in zip(only_a, only_b):
        if min(len(x), len(y)) < 4 or SequenceMatcher(None, x, y).ratio() < min_ratio:
            return False
    return True


class EntityTable:
    """In-memory view of the entities in a graph store: by id, by normal form, by passage."""

    def __init__(self, entities: Iterable[Entity] = ()) -> None:
        self.by_id: dict[str, Entity] = {}
        self.by_norm: dict[str, str] = {}
        self.by_passage: dict[str, set[str]] = defaultdict(set)
        self._blocks: dict[tuple[str, str], list[str]] = defaultdict(list)
        for e in entities:
            self.put(e)

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, entity_id: str) -> Entity | None:
        return self.by_id.get(entity_id)

    def lookup(self, name: str) -> Entity | None:
        """Entity whose name or alias has the normal form of ``name``, or whose id is ``name``."""
        if name in self.by_id:
            return self.by_id[name]
        eid = self.by_norm.get(normal_form(name))
        return self.by_id.get(eid) if eid else None

    def put(self, entity: Entity) -> None:
        old = self.by_id.get(entity.entity_id)
        if old is not None:
            for p in set(old.mentions) - set(entity.mentions):
                self.by_passage[p].discard(entity.entity_id)
            keep = {normal_form(s) for s in (entity.name, *entity.aliases)}
            for norm in self._norms_of(old):  # names it lost are forgotten; the rest follow its type
                if norm in keep and old.type == entity.type:
                    continue
                for key in _blocking_keys(norm):
                    self._unblock(old.type, key, norm)
                    if norm in keep:
                        insort(self._blocks[(entity.type, key)], norm)
                if norm not in keep:
                    del self.by_norm[norm]
        self.by_id[entity.entity_id] = entity
        for surface in (entity.name, *entity.aliases):
            norm = normal_form(surface)
            if norm and norm not in self.by_norm:
                self.by_norm[norm] = entity.entity_id
                for key in _blocking_keys(norm):
                    insort(self._blocks[(entity.type, key)], norm)
        for p in entity.mentions:
            self.by_passage[p].add(entity.entity_id)

    def drop(self, entity_id: str) -> None:
        entity = self.by_id.pop(entity_id, None)
        if entity is None:
            return
        for norm in self._norms_of(entity):
            del self.by_norm[norm]
            for key in _blocking_keys(norm):
                self._unblock(entity.type, key, norm)
        for p in entity.mentions:
            self.by_passage[p].discard(entity_id)

    def _norms_of(self, entity: Entity) -> list[str]:
        """The normal forms of ``entity``'s names that this table maps to it."""
        norms = {normal_form(s) for s in (entity.name, *entity.aliases)}
        return sorted(n for n in norms if n and self.by_norm.get(n) == entity.entity_id)

    def _unblock(self, type_: str, key: str, norm: str) -> None:
        block = self._blocks.get((type_, key))
        if block is not None and norm in block:
            block.remove(norm)

    def candidates(self, norm: str, type_: str, limit: int = 200) -> list[str]:
        """Existing normal forms of the same type sharing a blocking key with ``norm`` (blocks are kept
        sorted, so the ``limit`` cut does not depend on insertion order)."""
        out: set[str] = set()
        for key in _blocking_keys(norm):
            out.update(self._blocks.get((type_, key), ())[:limit])
        out.discard(norm)
        return sorted(out)


class EmbeddingEntityResolver:
    """Resolves (surface name, type) pairs to entity ids; merges near duplicates (see module doc)."""

    def __init__(self, embedder: Embedder | None, *, threshold: float = 0.85) -> None:
        self.embedder = embedder
        self.threshold = threshold

    def resolve(self, names: Sequence[tuple[str, str]], table: EntityTable) -> dict[tuple[str, str], str]:
        """Map every (name, type) to an entity id, adding new entities / aliases to ``table``.

        New entities are created with no mentions; the caller adds mentions. Deterministic: names are
        processed in sorted order.
        """
        out: dict[tuple[str, str], str] = {}
        pending: list[tuple[str, str, str, list[str]]] = []  # (name, type, norm, candidate norms)
        local: dict[tuple[str, str], list[str]] = defaultdict(list)  # blocks of this batch's new norms
        for name, type_ in sorted(set(names)):
            norm = normal_form(name)
            if not norm:
                continue
            eid = table.by_norm.get(norm)
            if eid is not None:
                out[(name, type_)] = eid
                ent = table.by_id[eid]
                if name != ent.name and name not in ent.aliases:
                    table.put(replace(ent, aliases=tuple(sorted({*ent.aliases, name}))))
                continue
            near = set(table.candidates(norm, type_))
            for key in _blocking_keys(norm):
                near.update(n for n in local[(type_, key)] if n != norm)
                if norm not in local[(type_, key)]:
                    local[(type_, key)].append(norm)
            cands = [c for c in sorted(near) if typo_like(norm, c)]
            pending.append((name, type_, norm, cands))
        merge_to = self._confirm(pending)
        for name, type_, norm, _ in pending:
            eid = table.by_norm.get(norm)  # created earlier in this loop by an identical norm
            if eid is None and norm in merge_to:
                eid = table.by_norm.get(merge_to[norm])
            if eid is not None:
                ent = table.by_id[eid]
                if name != ent.name and name not in ent.aliases:
                    table.put(replace(ent, aliases=tuple(sorted({*ent.aliases, name}))))
            else:
                ent = Entity.make(name, norm, type=type_)
                table.put(ent)
                eid = ent.entity_id
            out[(name, type_)] = eid
        return out

    def _confirm(self, pending: Sequence[tuple[str, str, str, list[str]]]) -> dict[str, str]:
        """{new norm: existing norm} for lexical candidates whose embeddings agree."""
        pairs = [(norm, c) for _, _, norm, cands in pending for c in cands]
        if not pairs:
            return {}
        if self.embedder is None:
            return {a: b for a, b in pairs}
        texts = sorted({t for p in pairs for t in p})
        vecs = self.embedder.encode(texts)
        idx = {t: i for i, t in enumerate(texts)}
        best: dict[str, tuple[float, str]] = {}
        for a, b in pairs:
            sim = float(np.dot(vecs[idx[a]], vecs[idx[b]]))
            if sim >= self.threshold and (a not in best or (sim, b) > best[a]):
                best[a] = (sim, b)
        return {a: b for a, (_, b) in best.items()}


def canonical(forms: Iterable[tuple[str, str, str]]) -> tuple[str, str] | None:
    """(name, type) of an entity seen with ``forms`` = (passage id, surface, type) triples: the
    surface form in the most passages, ties to the lexicographically smallest; the type likewise
    (an empty type only when no mention has one). None when there are no forms."""
    names: dict[str, set[str]] = defaultdict(set)
    types: dict[str, set[str]] = defaultdict(set)
    for pid, surface, type_ in forms:
        names[surface].add(pid)
        types[type_].add(pid)
    if not names:
        return None
    typed = {t: ps for t, ps in types.items() if t} or types
    return (min(names, key=lambda n: (-len(names[n]), n)), min(typed, key=lambda t: (-len(typed[t]), t)))


def key_id(entity: Entity) -> str | None:
    """The id an entity with ``entity.forms`` has in any build order: the content id of the smallest
    normal form of its surface forms. None without forms (an index written before forms were kept)."""
    norms = [n for n in {normal_form(f[1]) for f in entity.forms} if n]
    return content_id("ent", min(norms)) if norms else None


def merge_mentions(entity: Entity, add: Iterable[str] = (), remove: Iterable[str] = (), *,
                   forms: Iterable[tuple[str, str, str]] = ()) -> Entity:
    """``entity`` with passages ``add`` and mention ``forms`` added and passages ``remove`` gone;
    its name, type and aliases (its other surface forms) re-derived from the forms that remain
    (:func:`canonical`), as a build of just those mentions would make them. An entity without forms
    yet (new, or from an index written before forms were kept) keeps its names as aliases too."""
    gone = set(remove)
    mentions = (set(entity.mentions) | set(add) | {f[0] for f in forms}) - gone
    kept = tuple(sorted({f for f in (*entity.forms, *forms) if f[0] not in gone}))
    name, type_ = canonical(kept) or (entity.name, entity.type)
    earlier = () if entity.forms else (entity.name, *entity.aliases)
    surfaces = {*earlier, *(f[1] for f in kept)} - {name}
    return replace(entity, name=name, type=type_, aliases=tuple(sorted(surfaces)),
                   mentions=tuple(sorted(mentions)), forms=kept)


def entities_by_name(table: EntityTable, names: Iterable[str]) -> Mapping[str, Entity]:
    out: dict[str, Entity] = {}
    for n in names:
        e = table.lookup(n)
        if e is not None:
            out[n] = e
    return out
