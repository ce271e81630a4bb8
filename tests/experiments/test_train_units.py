"""Retriever training, model-free parts: losses against hand-computed values, splits, mining,
pseudo-queries, the learning-rate schedule and the batch plan."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from experiments.datasets import QAExample
from experiments.training.data import (
    Corpus,
    Example,
    SetData,
    SplitSpec,
    labelled_examples,
    pseudo_query_examples,
    split_of,
)
from experiments.training.losses import info_nce, kl_distill, margin_mse, replug_kl, replug_target
from experiments.training.mining import MiningSettings, mine
from experiments.training.trainer import TrainSettings, kind_of, lr_factor, plan_batches
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.records import Document


def test_info_nce_equals_hand_computed_value() -> None:
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    c = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, -1.0]])  # positives of q0, q1, then one hard negative
    t = 0.5
    # q0 logits: [1, .6, 0] / .5 = [2, 1.2, 0]; q1 logits: [0, .8, -1] / .5 = [0, 1.6, -2]
    l0 = -2 + math.log(math.exp(2) + math.exp(1.2) + math.exp(0))
    l1 = -1.6 + math.log(math.exp(0) + math.exp(1.6) + math.exp(-2))
    assert float(info_nce(q, c, temperature=t)) == pytest.approx((l0 + l1) / 2, abs=1e-6)


def test_info_nce_masks_other_positives_but_never_the_own_one() -> None:
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    c = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, -1.0]])
    excluded = torch.tensor([[True, True, False], [False, False, False]])  # q0's other positive: c1
    l0 = -2 + math.log(math.exp(2) + math.exp(0))
    l1 = -1.6 + math.log(math.exp(0) + math.exp(1.6) + math.exp(-2))
    assert float(info_nce(q, c, temperature=0.5, excluded=excluded)) == pytest.approx((l0 + l1) / 2, abs=1e-6)
    with pytest.raises(ConfigError):
        info_nce(q, c[:1], temperature=0.5)
    with pytest.raises(ConfigError):
        info_nce(q, c, temperature=0.0)


def test_replug_target_matches_hand_computed_example() -> None:
    ll = torch.tensor([[-1.0, -2.0, -4.0]])  # log p_LM(y | d_i, x)
    beta = 2.0
    z = math.exp(-0.5) + math.exp(-1.0) + math.exp(-2.0)
    want = [math.exp(-0.5) / z, math.exp(-1.0) / z, math.exp(-2.0) / z]  # [0.5465, 0.3315, 0.1220]
    assert replug_target(ll, beta)[0].tolist() == pytest.approx(want, abs=1e-6)
    assert want == pytest.approx([0.5465, 0.3315, 0.1220], abs=1e-4)


def test_replug_kl_is_kl_of_retriever_from_lm_distribution() -> None:
    s = torch.tensor([[0.9, 0.5, 0.1]])
    ll = torch.tensor([[-1.0, -2.0, -4.0]])
    p = torch.softmax(s / 0.1, -1)[0].tolist()
    q = torch.softmax(ll / 2.0, -1)[0].tolist()
    want = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    assert float(replug_kl(s, ll, gamma=0.1, beta=2.0)) == pytest.approx(want, abs=1e-6)
    # padding: a masked candidate changes nothing
    s_pad = torch.tensor([[0.9, 0.5, 0.1, 0.99]])
    ll_pad = torch.tensor([[-1.0, -2.0, -4.0, 0.0]])
    mask = torch.tensor([[True, True, True, False]])
    assert float(replug_kl(s_pad, ll_pad, gamma=0.1, beta=2.0, mask=mask)) == pytest.approx(want, abs=1e-6)
    # the same distributions give 0, and the LM side carries no gradient
    s_grad = (torch.log(torch.tensor([[0.5, 0.3, 0.2]])) * 0.1).requires_grad_()
    lm = torch.log(torch.tensor([[0.5, 0.3, 0.2]])).requires_grad_()
    loss = replug_kl(s_grad, lm, gamma=0.1, beta=1.0)
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-6)
    loss.backward()
    assert lm.grad is None and s_grad.grad is not None


def test_margin_mse_and_kl_distill_hand_computed() -> None:
    s = torch.tensor([[0.8, 0.5, 0.2]])
    t = torch.tensor([[-1.0, -3.0, -2.0]])  # teacher's best: candidate 0
    # margins: student (0.3, 0.6), teacher (2.0, 1.0)
    assert float(margin_mse(s, t)) == pytest.approx(((0.3 - 2.0) ** 2 + (0.6 - 1.0) ** 2) / 2, abs=1e-6)
    p_t = torch.softmax(t, -1)[0].tolist()
    p_s = torch.softmax(s / 0.5, -1)[0].tolist()
    want = sum(a * math.log(a / b) for a, b in zip(p_t, p_s))
    assert float(kl_distill(s, t, temperature=0.5)) == pytest.approx(want, abs=1e-6)


def test_splits_are_stable_disjoint_and_sized() -> None:
    spec = SplitSpec(dev=0.2, test=0.4)
    ids = [f"q{i}" for i in range(3000)]
    parts = {name: {q for q in ids if split_of(q, spec) == name} for name in ("train", "dev", "test")}
    assert set().union(*parts.values()) == set(ids)
    assert not (parts["train"] & parts["dev"]) and not (parts["train"] & parts["test"]) and not (parts["dev"] & parts["test"])
    assert abs(len(parts["test"]) / 3000 - 0.4) < 0.04 and abs(len(parts["dev"]) / 3000 - 0.2) < 0.04
    assert [split_of(q, spec) for q in ids[:50]] == [split_of(q, spec) for q in ids[:50]]
    assert any(split_of(q, SplitSpec(salt="other")) != split_of(q, spec) for q in ids[:50])
    with pytest.raises(ConfigError):
        SplitSpec(dev=0.5, test=0.5)


def _corpus() -> Corpus:
    rows = [("d1", "Ada Lovelace", "Ada Lovelace wrote the first program for the Analytical Engine."),
            ("d2", "Analytical Engine", "The Analytical Engine was designed by Charles Babbage."),
            ("d3", "Charles Babbage", "Charles Babbage was an English mathematician and engineer."),
            ("d4", "Lovelace", "Lovelace is a surname. Ada Lovelace was a mathematician."),
            ("d5", "Engine", "An engine converts energy into motion; the Analytical Engine computed.")]
    return Corpus.of([Document(i, text, None, title) for i, title, text in rows])


def test_labelled_examples_only_from_train_split() -> None:
    corpus = _corpus()
    qs = tuple(QAExample(f"q{i}", f"question {i} about Ada", ("x",), ("d1", "d3")) for i in range(40))
    data = SetData("toy", qs, corpus)
    spec = SplitSpec()
    train = labelled_examples([data], spec)
    test_ids = {q.qid for q in data.split("test", spec)}
    assert train and test_ids
    assert {e.qid.split(":")[1] for e in train}.isdisjoint(test_ids)
    assert all(set(e.positives) == set(corpus.passages_of_docs(["d1", "d3"])) for e in train)


def test_hard_negative_mining_never_returns_a_positive() -> None:
    corpus = _corpus()
    ids = corpus.ids
    rng = np.random.default_rng(0)
    pvecs = rng.normal(size=(len(ids), 8)).astype(np.float32)
    pvecs /= np.linalg.norm(pvecs, axis=1, keepdims=True)
    examples = [Example("a", "Who wrote the first program for the Analytical Engine?", "t", (ids[0], ids[1])),
                Example("b", "Charles Babbage engineer", "t", (ids[2],)),
                Example("c", "Lovelace surname mathematician", "t", tuple(ids[:4]))]
    qvecs = pvecs[[0, 2, 3]] + 0.01  # each query next to one of its positives: dense mining sees them first
    mined = mine(examples, corpus, MiningSettings(bm25_k=5, dense_k=5, depth=5), query_vecs=qvecs, passage_vecs=pvecs)
    for ex in mined:
        assert ex.negatives and not set(ex.negatives) & set(ex.positives)
        assert len(set(ex.negatives)) == len(ex.negatives)
    assert set(mined[2].negatives) == {ids[4]}
    # a margin drops negatives scored near (or above) the weakest positive
    strict = mine(examples, corpus, MiningSettings(bm25_k=5, dense_k=5, depth=5, margin=10.0),
                  query_vecs=qvecs, passage_vecs=pvecs)
    assert all(ex.negatives == () for ex in strict)
    with pytest.raises(ConfigError):
        mine(examples, corpus, MiningSettings(dense_k=1), query_vecs=None, passage_vecs=None)


def test_pseudo_queries_pair_titles_with_their_passages() -> None:
    corpus = _corpus()
    examples = pseudo_query_examples(corpus)
    by_query = {e.query: e for e in examples}
    ada = by_query["Who or what is Ada Lovelace?"]
    assert [corpus.doc_of(p) for p in ada.positives] == ["d1"]
    assert all(e.source == "pseudo" and e.positives for e in examples)
    assert len(pseudo_query_examples(corpus, max_examples=2)) == 2
    with pytest.raises(ConfigError):
        pseudo_query_examples(corpus, kinds=("nonsense",))


def test_lr_schedule_warmup_then_decay() -> None:
    assert lr_factor(0, 10, 2, "linear") == pytest.approx(0.5)
    assert lr_factor(1, 10, 2, "linear") == pytest.approx(1.0)
    assert lr_factor(2, 10, 2, "linear") == pytest.approx(1.0)
    assert lr_factor(6, 10, 2, "linear") == pytest.approx(0.5)
    assert lr_factor(6, 10, 2, "cosine") == pytest.approx(0.5)
    assert lr_factor(4, 10, 2, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.25)))
    assert lr_factor(9, 10, 0, "constant") == 1.0
    with pytest.raises(ConfigError):
        TrainSettings(schedule="step")


def test_batch_plan_is_seeded_and_keeps_kinds_apart() -> None:
    exs = [Example(f"c{i}", "q", "t", ("p",)) for i in range(9)] + \
          [Example(f"l{i}", "q", "replug:t", ("p",), candidates=("p", "n"), targets=(0.0, -1.0)) for i in range(3)]
    st = TrainSettings(batch_size=4, listwise_batch_size=2)
    plan = plan_batches(exs, st, 0)
    assert plan == plan_batches(exs, st, 0) and plan != plan_batches(exs, st, 1)
    for b in plan:
        assert len({exs[i].listwise for i in b}) == 1
    used = sorted(i for b in plan for i in b)
    assert len(used) == 11 and set(range(9, 12)) <= set(used)  # 9 contrastive: 4 + 4, a batch of one dropped
    mixed = exs + [Example(f"d{i}", "q", "distill_upr:t", ("p",), candidates=("p", "n"), targets=(0.0, -1.0))
                   for i in range(3)]
    for b in plan_batches(mixed, st, 0):  # REPLUG and distillation never share a batch (different losses)
        assert len({kind_of([mixed[i]]) for i in b}) == 1


class _AnswerScorer:
    """A SequenceScorer stand-in: a continuation is likely (-0.1 per token) when the prompt's passage
    holds the continuation's words, unlikely (-3 per token) otherwise. Records every call."""

    name = "answer-scorer"
    end_id = 0

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {"<end>": 0}
        self.calls: list[int] = []

    def encode(self, text: str) -> list[int]:
        return [self.vocab.setdefault(w, len(self.vocab)) for w in text.lower().split()]

    def decode(self, ids: list[int]) -> str:
        inv = {i: w for w, i in self.vocab.items()}
        return " ".join(inv[i] for i in ids if i)

    def logprobs(self, prompts: list[str], continuations: list[list[int]]) -> list[list[float]]:
        self.calls.append(len(prompts))
        inv = {i: w for w, i in self.vocab.items()}
        out = []
        for p, c in zip(prompts, continuations, strict=True):
            passage = p.split("Question:")[0].lower()
            out.append([-0.1 if (t == 0 or inv[t] in passage) else -3.0 for t in c])
        return out

    def next_token_logprobs(self, prompts: list[str], prefixes: list[list[int]]) -> np.ndarray:
        raise AssertionError("REPLUG and UPR score whole continuations only")


def test_replug_targets_come_from_the_lm_through_the_scorer() -> None:
    from experiments.training.feedback import replug_examples, upr_examples
    from tgrag.kernel.protocols import SequenceScorer

    corpus = _corpus()
    ids = corpus.ids
    scorer = _AnswerScorer()
    assert isinstance(scorer, SequenceScorer)
    ex = Example("q", "Who designed the Analytical Engine?", "labelled:toy", (ids[1],), answers=("Charles Babbage",))
    [made] = replug_examples([ex], corpus, [[ids[0], ids[1], ids[2]]], scorer, batch_size=2, show_progress=False)
    # "charles babbage" + end: d1 (Ada) holds neither word, d2 and d3 hold both
    assert made.candidates == (ids[0], ids[1], ids[2]) and made.source == "replug:labelled:toy"
    assert made.targets == pytest.approx((-3.0 - 3.0 - 0.1, -0.3, -0.3))
    assert scorer.calls == [2, 1]  # batched
    q = replug_target(torch.tensor([made.targets]), 1.0)[0].tolist()
    assert q[0] < 0.01 and q[1] == pytest.approx(q[2])
    assert replug_examples([Example("n", "q?", "t", (ids[0],))], corpus, [[ids[0]]], scorer,
                           show_progress=False) == []  # no answer, no target
    [upr] = upr_examples([ex], corpus, [[ids[0], ids[1]]], scorer, show_progress=False)
    assert upr.source.startswith("distill_upr") and len(upr.targets) == 2


def test_walk_teacher_keeps_the_corpus_passages_of_the_ranking() -> None:
    from experiments.training.feedback import walk_examples

    corpus = _corpus()
    ids = corpus.ids
    ranking = [(ids[2], 0.9), ("psg:elsewhere", 0.8), (ids[0], 0.5), (ids[1], 0.1)]
    [made] = walk_examples([Example("q", "who?", "t", (ids[0],))], lambda q, k: ranking[:k], corpus, 3)
    assert made.candidates == (ids[2], ids[0]) and made.targets == (0.9, 0.5)
    assert walk_examples([Example("q", "who?", "t", (ids[0],))], lambda q, k: ranking[:1], corpus, 3) == []
