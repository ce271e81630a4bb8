"""Supporting-passage Recall@1/2/5 of dense, BM25, hybrid, the walk, PPR and fusion, on the product's
own index, no LLM anywhere.

For each multi-hop set under DATA_ROOT, every passage of the set (corpus.jsonl) is one document of
one pooled index, built the way users build theirs: ``TemporalGraphRAG.open(path).insert(documents)``
(spaCy KG entities and facts, time tree, the passage graph with its KG entities, FAISS vectors). The
retrievers are the ones ``reasoning.assembly.build_query_side`` builds over that index's stores. A
question's gold is its ``supporting`` passage ids, which are the documents' ids; rankings are read
as document ids (a document's passages collapse to its first). Recall@k = fraction of a question's
supporting documents in the top k, averaged over questions.

Honest tuning: each set's questions are split in two halves by a stable hash of their id. ``--tune``
measures a grid of settings (``GRID``) on the *tune* half only and keeps the one with the best mean
Recall@5 gain over dense across the sets (Recall@1/@2 not below dense); every method is then
reported on both halves, the *report* half never having been looked at for choosing.
``--tune-walk`` does the same for the walk alone (seeds, beam, hop rounds, lead) over the settings
of ``--settings``, keeping that file's PPR and fusion.

    .venv/bin/python bench/retrieval.py ../shared/data [--datasets hotpotqa musique] [--tune | --tune-walk]

Indexes are cached under ``.tgrag/bench/retrieval/<set>-<key>`` (key: corpus + embedder + code
version of the index format); entity-name and question embeddings are cached beside them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reasoning.assembly import QuerySide, build_query_side  # noqa: E402
from reasoning.fusion import FusionSettings, MemoEmbedder  # noqa: E402
from reasoning.ppr import PPRSettings  # noqa: E402
from reasoning.settings import ReasoningSettings  # noqa: E402
from tgrag.ingest import document_from_row  # noqa: E402
from tgrag.kernel.protocols import Embedder  # noqa: E402
from tgrag.kernel.records import Document  # noqa: E402

MULTIHOP = ("hotpotqa", "2wikimultihopqa", "musique")
KS = (1, 2, 5)
BUILD_INFO = "bench_build.json"
CACHE = ROOT / ".tgrag" / "bench" / "retrieval"


# -- the index ------------------------------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def corpus_documents(rows: Sequence[Mapping[str, Any]]) -> list[Document]:
    """One document per corpus row, validated as ``tgrag index`` validates a JSONL line."""
    return [document_from_row(row, path="corpus.jsonl", line=i + 1) for i, row in enumerate(rows)]


def index_key(documents: Sequence[Document], embedder: Embedder, options: Mapping[str, Any]) -> str:
    h = hashlib.sha256(json.dumps({"embedder": embedder.name, "options": dict(options)}, sort_keys=True).encode())
    for d in sorted(documents, key=lambda d: d.doc_id):
        h.update(d.doc_id.encode())
        h.update(d.content_hash.encode())
    return h.hexdigest()[:16]


def open_index(documents: Sequence[Document], path: Path | None, *, embedder: Embedder,
               show_progress: bool = True, **open_kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """The product's index of ``documents``: ``TemporalGraphRAG.open(path, ...)`` then ``insert``.

    With a ``path`` a finished build (``bench_build.json`` present) is re-opened instead; a build
    is made under a temporary name and renamed when complete. Returns (the opened facade, what
    building it cost). No LLM is called: indexing is LLM-free by default and nothing here queries."""
    from tgrag.facade import TemporalGraphRAG

    def _open(p: Path | None) -> Any:
        return TemporalGraphRAG.open(p, embedder=embedder, llm=_NoLLM(), show_progress=show_progress,
                                     **open_kwargs)

    if path is not None and (path / BUILD_INFO).exists():
        return _open(path), json.loads((path / BUILD_INFO).read_text())
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}") if path is not None else None
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)
    rag = _open(tmp)
    t0 = time.perf_counter()
    report = rag.insert(list(documents))
    info = {"seconds": round(time.perf_counter() - t0, 1), "report": report.to_dict(), **rag.stats()}
    if tmp is None or path is None:
        return rag, info
    rag.close()
    (tmp / BUILD_INFO).write_text(json.dumps(info, indent=1, default=str))
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
    return _open(path), info


class _NoLLM:
    """The index is built and queried without an LLM; any call is a bug of the benchmark."""

    name = "none"

    def complete(self, request: Any) -> Any:
        raise RuntimeError("the retrieval benchmark must not call an LLM")


class CachedEmbedder(MemoEmbedder):
    """The real embedder with every text's vector kept (per kind, unbounded), saved to ``path`` on
    demand: the grid re-embeds neither the questions nor the entity names."""

    def __init__(self, inner: Embedder, path: Path | None = None) -> None:
        super().__init__(inner)
        self.path = path
        self.memo: dict[tuple[str, str], np.ndarray] = {}
        if path is not None and path.exists():
            data = np.load(path, allow_pickle=False)
            for kind, texts, vecs in ((k, data[f"{k}_texts"], data[f"{k}_vecs"]) for k in ("query", "passage")
                                      if f"{k}_texts" in data):
                self.memo.update({(kind, str(t)): v for t, v in zip(texts, vecs)})

    def encode(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        todo = sorted({t for t in texts if (kind, t) not in self.memo})
        if todo:
            vecs = self.inner.encode(todo, kind=kind)
            self.memo.update({(kind, t): v for t, v in zip(todo, vecs)})
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.memo[(kind, t)] for t in texts])

    def prefill(self, keys: Any) -> int:
        """Take the passage graph's key embeddings (``key:<text>`` → the embedder's query vector of
        <text>, computed at index time) instead of embedding those texts again; returns how many."""
        n = 0
        for kid in keys.ids():
            if kid.startswith("key:") and ("query", kid[4:]) not in self.memo:
                self.memo[("query", kid[4:])] = keys.vector(kid)
                n += 1
        return n

    def save(self) -> None:
        if self.path is None:
            return
        arrays: dict[str, np.ndarray] = {}
        for kind in ("query", "passage"):
            keys = sorted(t for k, t in self.memo if k == kind)
            if keys:
                arrays[f"{kind}_texts"] = np.asarray(keys)
                arrays[f"{kind}_vecs"] = np.stack([self.memo[(kind, t)] for t in keys])
        np.savez(self.path, **arrays)


# -- measuring ------------------------------------------------------------------------------------
def half_of(qid: str) -> str:
    """'tune' or 'report', by a stable hash of the question id (the same split on every run)."""
    return "tune" if int(hashlib.sha256(qid.encode()).hexdigest()[:8], 16) % 2 == 0 else "report"


def recall_at(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    gold_set = set(gold)
    return len(set(ranked[:k]) & gold_set) / len(gold_set) if gold_set else 0.0


def ranked_docs(side: QuerySide, kind: str, question: str, k: int) -> list[str]:
    """The top ``k`` distinct document ids of retriever ``kind`` (passages read 2k deep)."""
    ranked = side.retriever(kind).ranked(question, 2 * k)
    by_id = {p.passage_id: p.doc_id for p in side.docs.get_passages([pid for pid, _ in ranked])}
    out: list[str] = []
    for pid, _ in ranked:
        doc = by_id.get(pid)
        if doc is not None and doc not in out:
            out.append(doc)
    return out[:k]


def evaluate(side: QuerySide, kind: str, questions: Sequence[Mapping[str, Any]], *, desc: str = ""
             ) -> dict[str, Any]:
    """Recall@1/2/5 (%) per half and on all questions, with p50/p95 latency in ms."""
    rec: dict[str, dict[int, list[float]]] = {h: {k: [] for k in KS} for h in ("tune", "report")}
    lat: list[float] = []
    for q in tqdm(questions, desc=desc or kind, leave=False, disable=not sys.stderr.isatty()):
        t0 = time.perf_counter()
        docs = ranked_docs(side, kind, q["question"], max(KS))
        lat.append((time.perf_counter() - t0) * 1000)
        for k in KS:
            rec[q["half"]][k].append(recall_at(docs, q["gold"], k))
    out: dict[str, Any] = {}
    for h, by_k in rec.items():
        out[h] = {f"recall@{k}": round(100 * float(np.mean(v)), 2) if v else None for k, v in by_k.items()}
        out[h]["questions"] = len(by_k[1])
    out["all"] = {f"recall@{k}": round(100 * float(np.mean(rec["tune"][k] + rec["report"][k])), 2) for k in KS}
    out["latency_ms_p50"] = round(float(np.percentile(lat, 50)), 2) if lat else None
    out["latency_ms_p95"] = round(float(np.percentile(lat, 95)), 2) if lat else None
    return out


def load_questions(root: Path, known: set[str], limit: int = 0) -> list[dict[str, Any]]:
    """Questions with at least one supporting passage in the corpus, with their half and gold."""
    out = []
    for q in read_jsonl(root / "questions.jsonl"):
        gold = [s for s in q.get("supporting") or () if s in known]
        if gold:
            out.append({"id": q["id"], "question": q["question"], "gold": gold, "half": half_of(q["id"])})
    return out[:limit] if limit else out


# -- methods and the tuning grid ------------------------------------------------------------------
BASE = ReasoningSettings()
# name -> (retriever kind, settings); fusion ablations drop one member each
METHODS: dict[str, tuple[str, Callable[[ReasoningSettings], ReasoningSettings]]] = {
    "dense": ("dense", lambda s: s),
    "bm25": ("bm25", lambda s: s),
    "hybrid": ("hybrid", lambda s: s),
    "walk": ("walk", lambda s: replace(s, walk_lead=0)),  # HopRAG's prune order
    "walk_lead": ("walk", lambda s: replace(s, walk_lead=max(1, s.walk_lead))),  # the best seed first
    "ppr": ("ppr", lambda s: replace(s, ppr=replace(s.ppr, rounds=1))),
    "ppr_chain": ("ppr", lambda s: replace(s, ppr=replace(s.ppr, rounds=max(2, s.ppr.rounds)))),
    "fusion": ("fusion", lambda s: s),
    "fusion_no_walk": ("fusion", lambda s: _drop(s, "walk")),
    "fusion_no_ppr": ("fusion", lambda s: _drop(s, "ppr")),
    "fusion_no_dense": ("fusion", lambda s: _drop(s, "dense")),
}


def _drop(s: ReasoningSettings, member: str) -> ReasoningSettings:
    f = s.fusion
    keep = [(m, w) for m, w in zip(f.members, f.weights) if m != member]
    return replace(s, fusion=replace(f, members=tuple(m for m, _ in keep), weights=tuple(w for _, w in keep)))


def grid() -> list[ReasoningSettings]:
    """PPR settings measured on the tune half: damping, passage-seed weight, entity seeds by
    name-embedding similarity or none (names found verbatim only), one round or bridge rounds."""
    out = []
    for damping in (0.5, 0.7):
        for passage_weight in (0.05, 0.5):
            for entity_seeds in (0, 5):
                for rounds in (1, 2):
                    ppr = replace(BASE.ppr, damping=damping, passage_weight=passage_weight,
                                  entity_seeds=entity_seeds, rounds=rounds)
                    out.append(replace(BASE, ppr=ppr))
    return out


def fusion_grid(best: ReasoningSettings) -> list[ReasoningSettings]:
    """Fusion weights (dense 1; walk and PPR relative to it) over the tuned PPR."""
    out = []
    for ww in (1.0, 2.0):
        for wp in (0.5, 1.0, 2.0):
            fusion = FusionSettings(("dense", "walk", "ppr"), (1.0, ww, wp), best.fusion.k0, best.fusion.depth)
            out.append(replace(best, fusion=fusion))
    return out


def walk_grid(base: ReasoningSettings) -> list[ReasoningSettings]:
    """Walk settings measured on the tune half: hybrid seeds, weak-hop beam, hop rounds, lead."""
    return [replace(base, seeds=seeds, beam=beam, hops=hops, walk_lead=lead)
            for seeds in (2, 3) for beam in (1, 2, 3) for hops in (2, 3) for lead in (1, 2)]


def describe(s: ReasoningSettings) -> dict[str, Any]:
    return {"ppr": asdict(s.ppr), "fusion": asdict(s.fusion), "walk": asdict(s.walk)}


# -- main -----------------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    """Where a result was measured (tgrag.provenance): cores, platform, commit, load average."""
    from tgrag.provenance import machine_info as info

    return info(ROOT)


class SetUnderTest:
    """One dataset: its product index, questions and cached embeddings."""

    def __init__(self, name: str, data_root: Path, embedder: Embedder, cache: Path, limit: int) -> None:
        root = data_root / name
        documents = corpus_documents(read_jsonl(root / "corpus.jsonl"))
        key = index_key(documents, embedder, {})
        self.path = cache / f"{name}-{key}"
        self.rag, self.build = open_index(documents, self.path, embedder=embedder)
        self.questions = load_questions(root, {d.doc_id for d in documents}, limit)
        self.embedder = CachedEmbedder(embedder, cache / f"{name}-{key}.vectors.npz")
        if self.rag.passage_graph is not None:
            self.embedder.prefill(self.rag.passage_graph.key_index)
        self.name = name
        self.n_documents = len(documents)
        self._first: QuerySide | None = None

    def side(self, settings: ReasoningSettings, *, cached: bool = True) -> QuerySide:
        """The query side the product builds over this index; the PPR graph is built once per set."""
        emb = self.embedder if cached else self.embedder.inner
        side = build_query_side(self.rag.docs, self.rag.vectors, self.rag.graph, emb, None, settings=settings,
                                indexer=self.rag.indexer)
        if self._first is None:
            self._first = side
        elif not side.ppr.reuse_graph(self._first.ppr):
            side.ppr.index_graph()
        return side


def tune(sets: Sequence[SetUnderTest], dense: Mapping[str, Mapping[str, Any]], candidates: Sequence[ReasoningSettings],
         kind: str) -> tuple[ReasoningSettings, list[dict[str, Any]]]:
    """The candidate with the best mean Recall@5 / dense on the tune halves, among those whose
    Recall@1 and @2 are not below dense on any set's tune half (else the best overall)."""
    rows = []
    for st in tqdm(candidates, desc=f"tune {kind}"):
        per_set = {s.name: evaluate(s.side(st), kind, [q for q in s.questions if q["half"] == "tune"])["tune"]
                   for s in sets}
        gain = float(np.mean([per_set[n]["recall@5"] / dense[n]["recall@5"] for n in per_set]))
        ok = all(per_set[n][f"recall@{k}"] >= dense[n][f"recall@{k}"] for n in per_set for k in (1, 2))
        rows.append({"settings": describe(st), "tune": per_set, "mean_r5_over_dense": round(gain, 4),
                     "r1_r2_not_below_dense": ok, "_st": st})
    pool = [r for r in rows if r["r1_r2_not_below_dense"]] or rows
    best = max(pool, key=lambda r: r["mean_r5_over_dense"])
    return best["_st"], [{k: v for k, v in r.items() if k != "_st"} for r in rows]


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_root", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--datasets", nargs="+", default=list(MULTIHOP))
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--limit", type=int, default=0, help="questions per set (0 = all)")
    ap.add_argument("--cache", default=str(CACHE), help="folder for the cached indexes and embeddings")
    ap.add_argument("--tune", action="store_true", help="choose PPR and fusion settings on the tune half")
    ap.add_argument("--tune-walk", action="store_true", help="choose the walk's settings on the tune half")
    ap.add_argument("--settings", default="", help="JSON file with the settings to report (a previous --tune)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "retrieval.json"))
    args = ap.parse_args(argv)
    from tgrag.models.embedders import SentenceTransformerEmbedder

    machine = machine_info()
    embedder = SentenceTransformerEmbedder()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    sets = [SetUnderTest(n, Path(args.data_root), embedder, cache, args.limit) for n in args.datasets]
    for s in sets:  # every question and entity name embedded once, for the whole grid
        s.embedder.encode([q["question"] for q in s.questions], kind="query")
        s.side(BASE).ppr.index_graph()
        s.embedder.save()
    chosen, tuning = BASE, {}
    if args.settings:  # a previous --tune: its settings, and its tuning record carried over
        previous = json.loads(Path(args.settings).read_text())
        chosen = settings_from(previous)
        tuning = {"from": args.settings, **previous.get("tuning", {})}
    if args.tune_walk:
        dense = {s.name: evaluate(s.side(chosen), "dense", [q for q in s.questions if q["half"] == "tune"])["tune"]
                 for s in sets}
        chosen, walk_rows = tune(sets, dense, walk_grid(chosen), "walk")
        tuning = {**tuning, "walk_criterion": "as criterion, over walk_grid, PPR and fusion fixed",
                  "walk_dense_tune": dense, "walk_grid": walk_rows}
    if args.tune:
        dense = {s.name: evaluate(s.side(BASE), "dense", [q for q in s.questions if q["half"] == "tune"])["tune"]
                 for s in sets}
        chosen, ppr_rows = tune(sets, dense, grid(), "ppr")
        chosen, fusion_rows = tune(sets, dense, fusion_grid(chosen), "fusion")
        tuning = {"criterion": "mean over sets of Recall@5 / dense on the tune half, Recall@1/@2 >= dense",
                  "dense_tune": dense, "ppr_grid": ppr_rows, "fusion_grid": fusion_rows}
    result: dict[str, Any] = {
        "command": " ".join(sys.argv), "date": datetime.now(UTC).isoformat(), "machine": machine,
        "models": {"embedder": embedder.name, "llm": None, "extractor": "spaCy (the index's default)"},
        "llm_calls": 0, "split": "sha256(question id) even -> tune, odd -> report",
        "settings": describe(chosen), "datasets": {}, "tuning": tuning}
    for s in sets:
        entry: dict[str, Any] = {"documents": s.n_documents, "index": {k: s.build.get(k) for k in
                                 ("seconds", "passages", "entities", "facts", "hops")},
                                 "questions": {h: sum(q["half"] == h for q in s.questions) for h in ("tune", "report")},
                                 "methods": {}}
        for name in args.methods:
            kind, make = METHODS[name]
            side = s.side(make(chosen), cached=False)  # latency includes embedding the question
            side.retriever(kind).ranked("warm-up question about nothing", 5)  # builds lazy indexes
            entry["methods"][name] = evaluate(side, kind, s.questions, desc=f"{s.name} {name}")
        entry["ratio_over_dense_recall@5"] = {
            h: {m: round(v[h]["recall@5"] / entry["methods"]["dense"][h]["recall@5"], 3)
                for m, v in entry["methods"].items()} for h in ("tune", "report")} if "dense" in entry["methods"] else {}
        result["datasets"][s.name] = entry
        print(s.name, json.dumps(entry, indent=1), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


def settings_from(d: Mapping[str, Any]) -> ReasoningSettings:
    """ReasoningSettings from a ``settings`` block of a results file (``describe``'s output)."""
    d = d.get("settings", d)
    fusion = dict(d["fusion"])
    walk = d.get("walk", {})  # results from before walk_lead ran the walk without it (lead 0)
    return replace(BASE, walk_lead=walk.get("lead", 0), seeds=walk.get("seeds", BASE.seeds),
                   hops=walk.get("hops", BASE.hops), beam=walk.get("beam", BASE.beam), ppr=PPRSettings(**d["ppr"]),
                   fusion=FusionSettings(tuple(fusion["members"]), tuple(fusion["weights"]), fusion["k0"],
                                         fusion["depth"]))


if __name__ == "__main__":
    main()
