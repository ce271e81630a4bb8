"""The training loop: batches of contrastive and listwise examples, AdamW with warmup and a linear or
cosine decay, tqdm progress, a JSONL log, checkpoints that resume, and a loss-curve plot.

Contrastive batches (sources a, b) use :func:`~experiments.training.losses.info_nce` with each
query's positive (one drawn per epoch when it has several), the other queries' positives and every
mined hard negative of the batch as candidates; a candidate that is one of the query's own
positives is masked, never counted as a negative. Listwise batches (REPLUG, distillation) score each
query against its fixed candidates, passage vectors without gradient.

The batch plan is a pure function of the examples and the seed, so a run resumed from a checkpoint
(``resume_from``: model weights + optimizer, scheduler and step) continues the same plan.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from experiments.training.data import Corpus, Example
from experiments.training.encoder import BiEncoder
from experiments.training.losses import info_nce, kl_distill, margin_mse, replug_kl
from tgrag.kernel.errors import ConfigError

SCHEDULES = ("linear", "cosine", "constant")
DISTILL_LOSSES = ("margin_mse", "kl")
LOG_FILE = "train_log.jsonl"
PLOT_FILE = "loss_curve.png"
STATE_FILE = "trainer_state.pt"


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """Hyper-parameters of one run (all from config)."""

    epochs: int = 1
    batch_size: int = 16
    listwise_batch_size: int = 8
    lr: float = 2e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    schedule: str = "linear"
    temperature: float = 0.05  # InfoNCE
    gamma: float = 0.05  # REPLUG retriever temperature (cosine scores)
    beta: float = 1.0  # REPLUG LM temperature
    distill_loss: str = "margin_mse"
    distill_temperature: float = 0.05
    teacher_temperature: float = 1.0
    contrastive_weight: float = 1.0
    replug_weight: float = 1.0
    distill_weight: float = 1.0
    grad_clip: float | None = 1.0
    max_steps: int | None = None
    checkpoint_every: int = 0  # steps; 0: at the end of each epoch only
    keep_checkpoints: int = 2
    seed: int = 0
    threads: int | None = 1  # torch intra-op threads; None leaves torch's default

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.distill_loss not in DISTILL_LOSSES:
            raise ConfigError(f"distill_loss must be one of {DISTILL_LOSSES}, got {self.distill_loss!r}")
        if self.epochs < 1 or self.batch_size < 2 or self.listwise_batch_size < 1:
            raise ConfigError(f"need epochs >= 1, batch_size >= 2 (in-batch negatives), listwise_batch_size >= 1: {self}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Multiplier of the base learning rate at ``step``: linear warmup, then linear / cosine decay
    to 0 at ``total`` (or constant)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 1.0 - progress if schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))


def plan_batches(examples: Sequence[Example], settings: TrainSettings, epoch: int) -> list[list[int]]:
    """Example indices per batch of one epoch: contrastive, REPLUG and distillation batches (one
    kind per batch), shuffled and interleaved by ``seed`` and ``epoch``. A last contrastive batch of one query is dropped (it has
    no in-batch negative)."""
    rng = random.Random(settings.seed * 1_000_003 + epoch)
    batches: list[list[int]] = []
    for kind in ("contrastive", "replug", "distill"):
        idx = [i for i, e in enumerate(examples) if kind_of([e]) == kind]
        rng.shuffle(idx)
        size = settings.batch_size if kind == "contrastive" else settings.listwise_batch_size
        made = [idx[i:i + size] for i in range(0, len(idx), size)]
        batches += [b for b in made if len(b) >= 2] if kind == "contrastive" else made
    rng.shuffle(batches)
    return batches


def kind_of(batch: Sequence[Example]) -> str:
    src = batch[0].source
    if not batch[0].listwise:
        return "contrastive"
    return "replug" if src.startswith("replug") else "distill"


class Trainer:
    """Trains ``model`` on ``examples`` over ``corpus``; writes into ``run_dir``."""

    def __init__(self, model: BiEncoder, corpus: Corpus, settings: TrainSettings, run_dir: Path, *,
                 show_progress: bool = True) -> None:
        self.model = model
        self.corpus = corpus
        self.settings = settings
        self.run_dir = run_dir
        self.show_progress = show_progress
        self.log_path = run_dir / LOG_FILE

    # -- losses -----------------------------------------------------------------------------------
    def contrastive_loss(self, batch: Sequence[Example], rng: random.Random) -> Any:
        import torch

        chosen = [ex.positives[rng.randrange(len(ex.positives))] for ex in batch]
        cands = chosen + [n for ex in batch for n in ex.negatives]
        unique = list(dict.fromkeys(cands))
        vecs = self.model.embed(self.corpus.texts(unique), kind="passage")
        where = {pid: i for i, pid in enumerate(unique)}
        c = vecs[torch.tensor([where[p] for p in cands])]
        q = self.model.embed([ex.query for ex in batch], kind="query")
        excluded = torch.tensor([[p in set(ex.positives) for p in cands] for ex in batch], dtype=torch.bool)
        return info_nce(q, c, temperature=self.settings.temperature, excluded=excluded)

    def listwise_loss(self, batch: Sequence[Example], kind: str) -> Any:
        import torch

        k = max(len(ex.candidates) for ex in batch)
        unique = list(dict.fromkeys(p for ex in batch for p in ex.candidates))
        with torch.no_grad():
            pvecs = self.model.embed(self.corpus.texts(unique), kind="passage", grad=False)
        where = {pid: i for i, pid in enumerate(unique)}
        idx = torch.zeros((len(batch), k), dtype=torch.long)
        mask = torch.zeros((len(batch), k), dtype=torch.bool)
        target = torch.zeros((len(batch), k), dtype=torch.float32)
        for i, ex in enumerate(batch):
            n = len(ex.candidates)
            idx[i, :n] = torch.tensor([where[p] for p in ex.candidates])
            mask[i, :n] = True
            target[i, :n] = torch.tensor(ex.targets, dtype=torch.float32)
        q = self.model.embed([ex.query for ex in batch], kind="query")
        scores = (q[:, None, :] * pvecs[idx]).sum(-1)
        st = self.settings
        if kind == "replug":
            return replug_kl(scores, target, gamma=st.gamma, beta=st.beta, mask=mask)
        if st.distill_loss == "kl":
            return kl_distill(scores, target, temperature=st.distill_temperature,
                              teacher_temperature=st.teacher_temperature, mask=mask)
        return margin_mse(scores, target, mask=mask)

    # -- loop -------------------------------------------------------------------------------------
    def fit(self, examples: Sequence[Example], *, resume_from: Path | None = None) -> dict[str, Any]:
        """Train; returns the summary (steps, losses, wall time, examples/s, the final model)."""
        import torch

        st = self.settings
        if not examples:
            raise ConfigError("no training examples: enable a data source that yields some")
        if st.threads:
            torch.set_num_threads(st.threads)
        torch.manual_seed(st.seed)
        plans = [plan_batches(examples, st, e) for e in range(st.epochs)]
        flat = [(e, b) for e, plan in enumerate(plans) for b in plan]
        if st.max_steps is not None:
            flat = flat[: st.max_steps]
        total = len(flat)
        if total == 0:
            raise ConfigError("the batch plan is empty (fewer than 2 contrastive examples and no listwise ones)")
        warmup = int(st.warmup_ratio * total)
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=st.lr, weight_decay=st.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, warmup, st.schedule))
        start = 0
        if resume_from is not None:
            start = self._resume(resume_from, opt, sched)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        weights = {"contrastive": st.contrastive_weight, "replug": st.replug_weight, "distill": st.distill_weight}
        rngs = {e: random.Random(st.seed * 7919 + e) for e in range(st.epochs)}
        for e, b in flat[:start]:  # replay the positive draws of the steps already done
            batch = [examples[i] for i in b]
            if kind_of(batch) == "contrastive":
                for ex in batch:
                    rngs[e].randrange(len(ex.positives))
        self.model.train(True)
        seen = 0
        t_train = 0.0
        losses: list[float] = []
        with open(self.log_path, "a", encoding="utf-8") as log:
            bar = tqdm(range(start, total), desc="train", disable=not self.show_progress, initial=start, total=total)
            for step in bar:
                epoch, b = flat[step]
                batch = [examples[i] for i in b]
                kind = kind_of(batch)
                t0 = time.perf_counter()
                loss = self.contrastive_loss(batch, rngs[epoch]) if kind == "contrastive" else \
                    self.listwise_loss(batch, kind)
                opt.zero_grad(set_to_none=True)
                (weights[kind] * loss).backward()
                if st.grad_clip:
                    torch.nn.utils.clip_grad_norm_(params, st.grad_clip)
                opt.step()
                sched.step()
                dt = time.perf_counter() - t0
                t_train += dt
                seen += len(batch)
                value = float(loss.detach())
                losses.append(value)
                rec = {"step": step + 1, "epoch": epoch, "kind": kind, "loss": round(value, 6),
                       "lr": sched.get_last_lr()[0], "batch": len(batch), "seconds": round(dt, 4)}
                log.write(json.dumps(rec) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{value:.4f}", kind=kind)
                last_of_epoch = step + 1 == total or flat[step + 1][0] != epoch
                if (st.checkpoint_every and (step + 1) % st.checkpoint_every == 0) or last_of_epoch:
                    self._checkpoint(step + 1, opt, sched)
        self.model.train(False)
        plot_losses(self.log_path, self.run_dir / PLOT_FILE)
        return {"steps": total, "resumed_at": start, "examples_seen": seen, "train_seconds": round(t_train, 2),
                "examples_per_s": round(seen / t_train, 3) if t_train else None,
                "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
                "settings": asdict(st)}

    def _checkpoint(self, step: int, opt: Any, sched: Any) -> Path:
        import torch

        root = self.run_dir / "checkpoints"
        path = root / f"step-{step:06d}"
        self.model.save(path, info={"checkpoint_step": step})
        torch.save({"step": step, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "torch_rng": torch.get_rng_state()}, path / STATE_FILE)
        kept = sorted(root.glob("step-*"))
        for old in kept[: max(0, len(kept) - self.settings.keep_checkpoints)]:
            shutil.rmtree(old)
        return path

    def _resume(self, path: Path, opt: Any, sched: Any) -> int:
        import torch
        from sentence_transformers import SentenceTransformer

        state_file = path / STATE_FILE
        if not state_file.is_file():
            raise ConfigError(f"{path}: not a training checkpoint (no {STATE_FILE})")
        weights = SentenceTransformer(str(path), device=self.model.device, local_files_only=True).state_dict()
        self.model.model.load_state_dict(weights)
        state = torch.load(state_file, weights_only=False)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])  # dropout continues as in the uninterrupted run
        return int(state["step"])


def read_log(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_losses(log_path: Path, out: Path) -> None:
    """Loss per step (one line per loss kind, with a moving average) from the JSONL log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(log_path)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for kind in sorted({r["kind"] for r in rows}):
        pts = [(r["step"], r["loss"]) for r in rows if r["kind"] == kind]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        line = ax.plot(xs, ys, alpha=0.35, linewidth=0.8)[0]
        w = max(1, len(ys) // 20)
        avg = [sum(ys[max(0, i - w + 1):i + 1]) / len(ys[max(0, i - w + 1):i + 1]) for i in range(len(ys))]
        ax.plot(xs, avg, color=line.get_color(), label=f"{kind} (moving mean of {w})")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
