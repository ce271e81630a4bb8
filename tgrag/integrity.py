"""``check`` (what is inconsistent in an index) and ``rebuild`` (derive every store again from the
documents, the source of truth). ``tgrag check`` / ``tgrag repair`` run them."""

from __future__ import annotations

import time
from typing import Any

from tqdm.auto import tqdm

from tgrag.kernel.batch import WriteBatch


def check(rag: Any, *, limit: int = 20) -> list[str]:
    """Every inconsistency between documents, passages, vectors and the graph's passage
    references (hops, facts, time nodes, entity mentions), compared as id sets; at most ``limit``
    example ids per kind."""
    problems = list(rag._tx.load_errors)
    pending = rag.docs.pending()
    if pending is not None and not _writer_active(rag._tx.lock):
        problems.append(f"an interrupted write of generation {pending.generation} is journalled "
                        "(opening the index while no writer runs resolves it)")
    passages = rag.docs.passage_ids()
    docs = set(rag.docs.document_ids())

    def report(what: str, ids: set[str]) -> None:
        if ids:
            shown = ", ".join(sorted(ids)[:limit])
            problems.append(f"{len(ids)} {what}: {shown}{' …' if len(ids) > limit else ''}")

    with_passages = {p.doc_id for p in rag.docs.iter_passages()}
    report("documents without passages", docs - with_passages)
    vectors = set(rag.vectors.ids())
    report("passages without a vector", passages - vectors)
    report("vectors of no passage", vectors - passages)
    g = rag.graph
    if rag.passage_graph is not None or g.counts().get("hops", 0):
        hop_ends = {x for h in g.hops() for x in (h.src, h.dst)}
        report("hop endpoints that are no passage", hop_ends - passages)
    if rag.indexer is not None:
        report("fact sources that are no passage", {f.source_passage_id for f in g.facts()} - passages)
        nodes = g.time_nodes()
        report("time-node passages that are no passage", {p for n in nodes for p in n.passage_ids} - passages)
        report("entity mentions that are no passage", {m for e in g.entities() for m in e.mentions} - passages)
    return problems


def _writer_active(lock: Any) -> bool:
    """Whether another process holds the writer lock (its journal entry is then no problem)."""
    if lock is None or lock.held:
        return False
    if lock.try_acquire():
        lock.release()
        return False
    return True


def rebuild(rag: Any) -> dict[str, Any]:
    """Under the writer lock: clear graph, vectors and caches, then index every stored passage
    again in one batch, committed as one new generation. Returns what it did."""
    t0 = time.perf_counter()
    tx = rag._tx
    stages = ["clear", "embed", "knowledge graph", "passage graph", "commit"]
    bar = tqdm(total=len(stages), desc="repair", unit="stage", disable=not rag.show_progress)
    tx.begin(WriteBatch(tx.generation + 1))
    try:
        bar.set_postfix_str(stages[0])
        g = rag.graph
        ids = [e.entity_id for e in g.entities()] + [f.fact_id for f in g.facts()]
        ids += [n.node_id for n in g.time_nodes()] + [h.hop_id for h in g.hops()]
        g.delete(ids)
        rag.vectors.remove(rag.vectors.ids())
        rag._drop_caches()
        if rag.passage_graph is not None:
            rag.passage_graph.key_index.remove(rag.passage_graph.key_index.ids())
        bar.update()
        from tgrag.ingest import passage_text

        passages = list(rag.docs.iter_passages())
        bar.set_postfix_str(stages[1])
        rag.vectors.add([p.passage_id for p in passages], rag._embed([passage_text(p) for p in passages]),
                        intervals=[p.date for p in passages])
        bar.update()
        bar.set_postfix_str(stages[2])
        facts = rag.indexer.add(passages).facts_added if rag.indexer is not None and passages else 0
        bar.update()
        bar.set_postfix_str(stages[3])
        hops = rag.passage_graph.update(added=passages)[0] if rag.passage_graph is not None else 0
        bar.update()
        bar.set_postfix_str(stages[4])
        tx.commit()
        bar.update()
    except BaseException:
        tx.abort()
        raise
    finally:
        bar.close()
    rag._reasoner = None
    return {"generation": tx.generation, "passages": len(passages), "facts": facts, "hops": hops,
            "seconds": round(time.perf_counter() - t0, 3)}
