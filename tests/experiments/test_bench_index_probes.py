"""bench/index_batch.py's host probe and encoder-work count; bench/index_alternatives.py's agreement."""

from __future__ import annotations

import numpy as np
import pytest

from tests.bench_scripts import load_bench

batch = load_bench("index_batch")
alternatives = load_bench("index_alternatives")


def _at(*degrees: float) -> np.ndarray:
    r = np.radians(degrees)
    return np.stack([np.cos(r), np.sin(r)], axis=1)


def test_neighbour_agreement_is_one_for_the_same_vectors_and_drops_when_neighbours_change() -> None:
    a = _at(0, 10, 50, 100)  # 2-nearest: 0 {0,1}, 1 {1,0}, 2 {2,1}, 3 {3,2}
    assert alternatives.neighbour_agreement(a, a, k=2) == 1.0
    b = _at(0, 10, 50, 5)  # row 3 moved next to rows 0 and 1: 0 {0,3}, 1 {1,3}, 2 {2,1}, 3 {3,0}
    assert alternatives.neighbour_agreement(a, b, k=2) == pytest.approx((0.5 + 0.5 + 1 + 0.5) / 4)


class _Tok:
    def __call__(self, texts: list[str], truncation: bool = False) -> dict[str, list[list[int]]]:
        return {"input_ids": [[0] * (len(t.split()) + 2) for t in texts]}


class _Model:
    max_seq_length = 4
    tokenizer = _Tok()

    def named_modules(self) -> list[tuple[str, object]]:
        import torch

        return [("0.auto_model.encoder.layer.0.ffn", torch.nn.Linear(3, 5)),
                ("0.auto_model.pooler.dense", torch.nn.Linear(3, 3))]  # outside the encoder: not counted


class _Emb:
    def _load(self) -> _Model:
        return _Model()


def test_encoder_work_counts_truncated_tokens_and_encoder_weights_only() -> None:
    w = batch.encoder_work(_Emb(), ["a b", "a b c d e f"])  # 4 tokens, then 8 cut to 4
    assert w["tokens"] == 8 and w["mean_tokens"] == 4.0 and w["texts"] == 2
    assert w["encoder_linear_params"] == 15
    assert w["matmul_tflop"] == round(2 * 15 * 8 / 1e12, 2)


def test_matmul_probe_restores_the_thread_count() -> None:
    import torch

    before = torch.get_num_threads()
    assert batch.matmul_gflops(1, n=64, reps=2) > 0
    assert torch.get_num_threads() == before
