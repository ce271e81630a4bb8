"""Run outputs: predictions.jsonl, metrics.json, and report.md with matplotlib (Agg) plots."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.datasets import QAExample  # noqa: E402
from experiments.metrics import OUTCOME_NOTE  # noqa: E402
from experiments.records import Prediction  # noqa: E402

OUTCOME_COLOURS = {"correct": "#2e7d32", "abstained": "#f9a825", "incorrect": "#c62828"}


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600
    os.replace(tmp, path)


def write_predictions(path: Path, examples: Sequence[QAExample], predictions: Sequence[Prediction],
                      extra: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """One JSON object per question: gold fields, the prediction with its trace, per-item scores."""
    by_id = {e.qid: e for e in examples}
    lines = []
    for p in predictions:
        ex = by_id[p.qid]
        row = {"question": ex.question, "gold": ex.to_dict(), **p.to_dict()}
        if extra and p.qid in extra:
            row["scores"] = dict(extra[p.qid])
        lines.append(json.dumps(row, ensure_ascii=False))
    atomic_write(path, "\n".join(lines) + ("\n" if lines else ""))


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def per_item_scores(per_item: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Merge the metric families' per-item rows by question id (for predictions.jsonl)."""
    out: dict[str, dict[str, Any]] = {}
    for family, rows in per_item.items():
        if family == "cost":
            continue
        for r in rows:
            out.setdefault(r["id"], {}).update({k: v for k, v in r.items() if k not in ("id", "type", "hops")})
    return out


# ---------------------------------------------------------------------------------------------
def _save(fig: Any, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def plot_recall_curves(curves: Mapping[str, Mapping[int, float]], path: Path, title: str = "") -> str:
    """One Recall@k line per method."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, curve in curves.items():
        ks = sorted(curve)
        ax.plot(ks, [curve[k] for k in ks], marker="o", label=name)
    ax.set_xscale("log")
    all_ks = sorted({k for c in curves.values() for k in c})
    ax.set_xticks(all_ks, [str(k) for k in all_ks])
    ax.set_xlabel("k (documents)")
    ax.set_ylabel("supporting-document recall@k")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title or "Recall@k")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_bars(values: Mapping[str, float], path: Path, *, ylabel: str, title: str) -> str:
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(values) + 2), 3.6))
    names = list(values)
    ax.bar(range(len(names)), [values[n] for n in names], color="#1565c0")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_histogram(values: Sequence[float], path: Path, *, xlabel: str, title: str) -> str:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.hist(list(values), bins=min(30, max(5, len(values) // 2)), color="#6a1b9a")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("questions")
    ax.set_title(title)
    return _save(fig, path)


def plot_outcomes(groups: Mapping[str, Mapping[str, float]], path: Path, title: str, *,
                  colours: Mapping[str, str] = OUTCOME_COLOURS, ylabel: str = "questions") -> str:
    """Stacked bars, one per group (e.g. before / after), one segment per outcome of ``colours``
    (default: correct / abstained / incorrect)."""
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(groups) + 2), 3.6))
    names = list(groups)
    bottom = [0.0] * len(names)
    for outcome, colour in colours.items():
        vals = [float(groups[n].get(outcome, 0)) for n in names]
        ax.bar(range(len(names)), vals, bottom=bottom, color=colour, label=outcome)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------
def recall_curve(retrieval_summary: Mapping[str, Any]) -> dict[int, float]:
    return {int(k.split("@")[1]): float(v) for k, v in retrieval_summary.items() if k.startswith("recall@")}


def make_plots(summary: Mapping[str, Any], per_item: Mapping[str, Sequence[Mapping[str, Any]]],
               predictions: Sequence[Prediction], out_dir: Path, method: str) -> list[tuple[str, str]]:
    """All plots that apply to this run: list of (caption, file name under plots/)."""
    plots: list[tuple[str, str]] = []
    pdir = out_dir / "plots"
    if summary["retrieval"].get("n"):
        plots.append(("Recall@k", "plots/" + plot_recall_curves({method: recall_curve(summary["retrieval"])},
                                                                  pdir / "recall_at_k.png")))
    for key, label in (("by_type", "question type"), ("by_hops", "hop count")):
        f1 = summary[key].get("f1") or {}
        if f1:
            plots.append((f"F1 by {label}", "plots/" + plot_bars(f1, pdir / f"f1_{key}.png", ylabel="F1",
                                                                  title=f"F1 by {label}")))
        rk = [k for k in summary[key] if k.startswith("recall@")]
        if rk and summary[key][rk[0]]:
            plots.append((f"{rk[0]} by {label}", "plots/" + plot_bars(
                summary[key][rk[0]], pdir / f"recall_{key}.png", ylabel=rk[0], title=f"{rk[0]} by {label}")))
    if predictions:
        plots.append(("Latency per question", "plots/" + plot_histogram(
            [p.seconds for p in predictions], pdir / "latency_hist.png", xlabel="seconds per question",
            title="Latency")))
        tokens = [p.usage.prompt_tokens + p.usage.completion_tokens for p in predictions]
        if any(tokens):
            plots.append(("LLM tokens per question", "plots/" + plot_histogram(
                tokens, pdir / "tokens_hist.png", xlabel="LLM tokens (prompt + completion)",
                title="LLM tokens per question")))
    if summary["temporal"].get("n"):
        t = summary["temporal"]
        plots.append(("Correct / abstained / incorrect", "plots/" + plot_outcomes(
            {method: t}, pdir / "temporal_outcomes.png", "Temporal outcomes")))
    return plots


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return "—" if v is None else str(v)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |\n" for r in rows)


def render_report(title: str, summary: Mapping[str, Any], plots: Sequence[tuple[str, str]],
                  context: Mapping[str, Any]) -> str:
    """report.md: run context, headline numbers, costs, and the plots."""
    lines = [f"# {title}", ""]
    lines += [f"- **{k}**: {_fmt(v)}" for k, v in context.items()]
    lines.append("")
    ans, ret, tmp, cost = summary["answer"], summary["retrieval"], summary["temporal"], summary["cost"]
    if ret.get("n"):
        cols = [k for k in ret if k.startswith("recall@")] + [k for k in ret if k.startswith("precision@")]
        lines += ["## Retrieval (supporting documents)", "", markdown_table([ret], ["n", *cols]), ""]
    if ans.get("n"):
        lines += ["## Answers", "", markdown_table([ans], ["n", "em", "f1", "token_recall"]), ""]
    if tmp.get("n"):
        lines += ["## Temporal outcomes", "", OUTCOME_NOTE, "", markdown_table([tmp], [
            "n", "correct", "abstained", "incorrect", "accuracy", "answerable_accuracy",
            "unanswerable_abstain_rate"]), ""]
    q = cost["query"]
    lines += ["## Cost", "",
              markdown_table([{"stage": "index", "seconds": cost["index"]["seconds"], "llm calls": cost["index"]["calls"],
                               "cached": cost["index"]["cached_calls"],
                               "tokens": cost["index"]["prompt_tokens"] + cost["index"]["completion_tokens"]},
                              {"stage": "queries", "seconds": q["seconds_per_query"].get("total", 0.0),
                               "llm calls": q["calls"], "cached": q["cached_calls"],
                               "tokens": q["prompt_tokens"] + q["completion_tokens"]}],
                             ["stage", "seconds", "llm calls", "cached", "tokens"]), ""]
    if q["seconds_per_query"]:
        s = q["seconds_per_query"]
        lines += [f"Per question: mean {s['mean']:.3f} s, p50 {s['p50']:.3f} s, p95 {s['p95']:.3f} s; "
                  f"{q['llm_calls_per_query']:.2f} LLM calls and {q['tokens_per_query']:.0f} tokens.", ""]
    for caption, rel in plots:
        lines += [f"### {caption}", "", f"![{caption}]({rel})", ""]
    return "\n".join(lines)
