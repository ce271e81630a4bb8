"""MIRAGE protocol (Park et al., Findings of NAACL 2025): how a reader uses, or misuses, its context.

Every question is answered three times by the same model: with no context (**base** b: the LLM alone,
closed book), with the gold supporting passages (**oracle** o: the method's own reader or generator
over them) and with what the method retrieves (**mixed** m: the method's whole pipeline, top k).
Each answer gets an EM label; as in the authors' evaluation code (nlpai-lab/MIRAGE,
``evaluation.py`` and ``LLM.py``), the label is the loose EM, a gold answer contained in the
prediction (on SQuAD-normalised text here; ``em: strict`` asks for equality), and the four
metrics are checked in this order, so they partition the questions:

    noise vulnerability       NV = P(m=0 ∧ o=1)
    context acceptability     CA = P(m=1 ∧ o=1)
    context insensitivity     CI = P(b=0 ∧ o=0)
    context misinterpretation CM = P(b=1 ∧ o=0)

The authors rank systems by CA − NV − CI − CM (``score``). ``metrics.json`` holds the four metrics,
the counts of every (b, m, o) label triple and the mixed run's standard metrics; ``report.md`` shows
them with a bar plot; ``predictions.jsonl`` has the three answers and labels of every question.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from tqdm.auto import tqdm

from experiments.datasets import QAExample
from experiments.indexing import open_or_build
from experiments.records import Prediction
from experiments.report import atomic_write, markdown_table, plot_bars, write_json
from experiments.runner import (
    build_components,
    build_method,
    load_dataset_cfg,
    make_system,
    predict_all,
    run_context,
    score,
)
from reasoning.reader import normalise_answer
from reasoning.retrievers import passage_evidence
from tgrag.kernel.errors import ConfigError, TgragError
from tgrag.kernel.protocols import LLM
from tgrag.kernel.records import Evidence, LLMRequest
from tgrag.scoring import normalize_answer

log = logging.getLogger(__name__)
METRICS = ("nv", "ca", "ci", "cm")
NAMES = {"nv": "noise vulnerability", "ca": "context acceptability", "ci": "context insensitivity",
         "cm": "context misinterpretation"}
EM_MODES = ("loose", "strict")
CLOSED_BOOK_SYSTEM = ("Answer the question with the shortest answer (a name, date, number or yes/no) and "
                      "nothing else.")


def em_label(prediction: str | None, golds: Sequence[str], *, mode: str = "loose") -> int:
    """1 when a gold answer is contained in (``loose``) or equal to (``strict``) the prediction."""
    if mode not in EM_MODES:
        raise ConfigError(f"config group 'protocol': em must be one of {EM_MODES}, got {mode!r}")
    pred = normalize_answer(prediction or "")
    if not pred:
        return 0
    for gold in golds:
        g = normalize_answer(gold)
        if g and (g in pred if mode == "loose" else g == pred):
            return 1
    return 0


def mirage_category(base: int, oracle: int, mixed: int) -> str:
    """The one metric a question counts towards (the authors' order of checks)."""
    if oracle == 1:
        return "ca" if mixed == 1 else "nv"
    return "cm" if base == 1 else "ci"


@dataclass(frozen=True, slots=True)
class MirageRow:
    qid: str
    base: int
    oracle: int
    mixed: int

    @property
    def category(self) -> str:
        return mirage_category(self.base, self.oracle, self.mixed)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.qid, "base": self.base, "oracle": self.oracle, "mixed": self.mixed,
                "category": self.category}


def mirage_metrics(rows: Sequence[MirageRow]) -> dict[str, Any]:
    """NV / CA / CI / CM as fractions of the questions, their counts, the (b, m, o) label counts
    (keys ``"b_m_o"`` as the authors write them) and the authors' ranking score."""
    counts = dict.fromkeys(METRICS, 0)
    labels = {f"{b}_{m}_{o}": 0 for b in (0, 1) for m in (0, 1) for o in (0, 1)}
    for r in rows:
        counts[r.category] += 1
        labels[f"{r.base}_{r.mixed}_{r.oracle}"] += 1
    n = len(rows)
    frac = {k: (counts[k] / n if n else 0.0) for k in METRICS}
    return {"n": n, **frac, "counts": counts, "label_counts": labels,
            "score": frac["ca"] - frac["nv"] - frac["ci"] - frac["cm"],
            "em": {"base": _mean([r.base for r in rows]), "oracle": _mean([r.oracle for r in rows]),
                   "mixed": _mean([r.mixed for r in rows])}}


def _mean(values: Sequence[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def closed_book(llm: LLM, question: str, *, max_tokens: int = 32) -> str:
    """The base run: the LLM alone, no context."""
    resp = llm.complete(LLMRequest.chat(f"Question: {question}", system=CLOSED_BOOK_SYSTEM, max_tokens=max_tokens,
                                        temperature=0.0))
    return normalise_answer(resp.text.split("Answer:")[-1] if "Answer:" in resp.text else resp.text)


def gold_evidence(docs: Any, example: QAExample) -> list[Evidence]:
    """The supporting documents' passages, in the order the question names them."""
    return [passage_evidence(p, 1.0) for doc_id in example.supporting for p in docs.passages_of(doc_id)]


def run_mirage(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """The MIRAGE protocol; returns what was written to metrics.json."""
    started = time.perf_counter()
    mode = str(cfg.protocol.get("em", "loose"))
    if mode not in EM_MODES:
        raise ConfigError(f"config group 'protocol': em must be one of {EM_MODES}, got {mode!r}")
    comps = build_components(cfg)
    dataset = load_dataset_cfg(cfg)
    questions = [q for q in dataset.questions if q.supporting and not q.unanswerable]
    if not questions:
        raise ConfigError(f"MIRAGE needs questions with supporting documents; {dataset.name} has none")
    rag, info = open_or_build(comps, dataset.documents, cache_root=Path(cfg.paths.cache_dir), name=dataset.name,
                              reuse=bool(cfg.index.reuse))
    try:
        system = make_system(cfg, rag, comps)
        method = build_method(cfg, system)
        reasoner = getattr(method, "reasoner", None)
        reader = reasoner.reader if reasoner is not None else system.reader()
        mixed = predict_all(method, questions, desc=f"{method.name} (mixed)")
        by_id = {p.qid: p for p in mixed}
        rows: list[MirageRow] = []
        answers: list[dict[str, Any]] = []
        for ex in tqdm(questions, desc="closed book + oracle", unit="q"):
            try:
                base = closed_book(comps.llm, ex.question)
                read = reader.read(ex.question, gold_evidence(rag.docs, ex))
                oracle = "" if read.abstained else read.text
            except TgragError as e:  # logged and counted, scored as wrong
                log.error("question %s failed in the base/oracle runs: %s", ex.qid, e)
                base, oracle = "", ""
            m = by_id[ex.qid].answer
            row = MirageRow(ex.qid, em_label(base, ex.answers, mode=mode), em_label(oracle, ex.answers, mode=mode),
                            em_label(m, ex.answers, mode=mode))
            rows.append(row)
            answers.append({**row.to_dict(), "question": ex.question, "gold": list(ex.answers),
                            "base_answer": base, "oracle_answer": oracle, "mixed_answer": m})
        summary, _ = score(cfg, questions, mixed, info)
        result = {"run": {**run_context(cfg, method.name), "seconds_total": time.perf_counter() - started,
                          "index": info.to_dict(), "llm": comps.llm.name, "em": mode},
                  "mirage": mirage_metrics(rows), "metrics": summary, "llm_cache": comps.llm.cache_stats()}
        write_outputs(out_dir, cfg, method.name, result, answers, mixed)
        return result
    finally:
        rag.close()


def write_outputs(out_dir: Path, cfg: DictConfig, method: str, result: Mapping[str, Any],
                  answers: Sequence[Mapping[str, Any]], mixed: Sequence[Prediction]) -> None:
    import json

    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "metrics.json", result)
    atomic_write(out_dir / "predictions.jsonl", "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in answers))
    mir = result["mirage"]
    plot = plot_bars({k.upper(): mir[k] for k in METRICS}, out_dir / "plots" / "mirage.png",
                     ylabel="fraction of questions", title=f"MIRAGE: {method} on {cfg.dataset.name}")
    lines = [f"# {cfg.task_name}: MIRAGE, {method} on {cfg.dataset.name}", "",
             f"- **questions**: {mir['n']}", f"- **LLM**: {result['run']['llm']}", f"- **EM label**: {result['run']['em']}",
             f"- **errors in the mixed run**: {sum(p.error is not None for p in mixed)}", "",
             "## Metrics (they partition the questions)", "",
             markdown_table([{"metric": f"{k.upper()} ({NAMES[k]})", "fraction": mir[k], "questions": mir["counts"][k]}
                             for k in METRICS], ["metric", "fraction", "questions"]),
             f"Score CA − NV − CI − CM: {mir['score']:.3f}. EM base / oracle / mixed: "
             f"{mir['em']['base']:.3f} / {mir['em']['oracle']:.3f} / {mir['em']['mixed']:.3f}.", "",
             "## Label counts (base_mixed_oracle)", "",
             markdown_table([mir["label_counts"]], list(mir["label_counts"])),
             f"![MIRAGE metrics](plots/{plot})", ""]
    atomic_write(out_dir / "report.md", "\n".join(lines))
