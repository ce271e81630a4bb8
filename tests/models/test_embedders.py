"""The packaged MiniLM embedder: queries in large batches embed as they do one at a time."""

from __future__ import annotations

import numpy as np

from tgrag.models.embedders import SentenceTransformerEmbedder

NAMES = ["Port Blair", "Andaman and Nicobar Islands", "India", "Bay of Bengal", "South Andaman",
         "the Andaman and Nicobar Command", "Who or what is Janos Gabor?", "Acme"]


def test_query_batch_size_changes_speed_not_vectors() -> None:
    one = SentenceTransformerEmbedder(query_batch_size=1)
    many = SentenceTransformerEmbedder(query_batch_size=256)
    a = one.encode(NAMES, kind="query")
    b = many.encode(NAMES, kind="query")
    assert a.shape == b.shape == (len(NAMES), 384)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)


def test_queries_and_passages_go_in_their_own_batch_sizes() -> None:
    emb = SentenceTransformerEmbedder(batch_size=2, query_batch_size=64)
    model = emb._load()
    seen: list[int] = []
    real = model.encode

    def recording(items, **kw):  # type: ignore[no-untyped-def]
        seen.append(kw["batch_size"])
        return real(items, **kw)

    model.encode = recording
    emb.encode(NAMES, kind="query")
    emb.encode(NAMES[:3], kind="passage")
    assert seen == [64, 2]
