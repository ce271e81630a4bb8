"""The VectorIndex contract on MilvusVectorIndex against a real Milvus Lite server (started by the
session fixture), plus the Milvus-specific behaviour: config, naming, batching, filter chunking,
old versions garbage-collected, a server that does not start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tgrag.contracts.vector_index import DIM, IDS, INTERVALS, VECS, VectorIndexContract, brute, ranked_ids
from tgrag.kernel import ConfigError, StoreError
from tgrag.kernel.protocols import VectorIndex
from tgrag.stores import milvus_index
from tgrag.stores.milvus_index import LIVE, MilvusVectorIndex, collection_for
from tgrag.stores.milvus_server import MilvusLiteServer

pytestmark = pytest.mark.milvus


@pytest.fixture
def milvus(milvus_server: MilvusLiteServer, milvus_collection: str) -> Iterator[MilvusVectorIndex]:
    index = MilvusVectorIndex(DIM, uri=milvus_server.uri, collection=milvus_collection, batch_size=7)
    yield index
    index.drop()
    index.close()


class TestMilvusVectorIndex(VectorIndexContract):
    @pytest.fixture
    def index(self, milvus: MilvusVectorIndex) -> MilvusVectorIndex:
        return milvus

    def reopen(self, index: VectorIndex) -> VectorIndex:
        assert isinstance(index, MilvusVectorIndex)
        return MilvusVectorIndex(DIM, uri=index.uri, collection=index.collection)


def _rows(index: MilvusVectorIndex) -> list[dict]:
    return list(index._query("gen_from >= 0", ["pid", "gen_from", "gen_to"]))


def test_old_versions_are_garbage_collected(milvus: MilvusVectorIndex) -> None:
    for g in (1, 2, 3):
        milvus.begin(g)
        milvus.add(["a", "b"], np.stack([VECS[g], VECS[g + 10]]))
        if g == 3:
            milvus.remove(["b"])
        milvus.prepare(g)
        milvus.commit(g)
    rows = sorted((r["pid"], r["gen_from"], r["gen_to"]) for r in _rows(milvus))
    # generation 3 is live, 2 kept for its readers, 1 collected
    assert rows == [("a", 2, 3), ("a", 3, LIVE), ("b", 2, 3)]
    assert milvus.ids() == ["a"] and milvus.search(VECS[3], 1)[0][0] == "a"


def test_ids_with_quotes_and_backslashes(milvus: MilvusVectorIndex) -> None:
    odd = ['say "hi"', "back\\slash", "it's", "ünï/cødé"]
    milvus.add(odd, VECS[:4])
    assert milvus.ids() == sorted(odd)
    assert milvus.search(VECS[0], 4, allowed={odd[0], odd[1]})[0][0] == odd[0]
    assert milvus.remove([odd[1]]) == 1 and odd[1] not in milvus


def test_large_allowed_sets_are_sent_in_chunks(milvus: MilvusVectorIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(milvus_index, "_ALLOWED_CHUNK", 4)
    milvus.add(IDS, VECS, intervals=INTERVALS)
    allowed = set(IDS[::2])
    hits = milvus.search(VECS[1], 7, allowed=allowed)
    assert ranked_ids(hits) == ranked_ids(brute(VECS[1], sorted(allowed))[:7])


def test_collection_named_after_the_index_directory(tmp_path: Path, milvus_server: MilvusLiteServer) -> None:
    a, b = tmp_path / "one" / "idx", tmp_path / "two" / "idx"
    assert collection_for(a) != collection_for(b) and collection_for(a).startswith("tgrag_idx_")
    index = MilvusVectorIndex(DIM, a / "vectors.faiss", uri=milvus_server.uri)
    assert index.collection == collection_for(a)
    index.add(["x"], VECS[:1])
    again = MilvusVectorIndex(DIM, a / "vectors.faiss", uri=milvus_server.uri)
    other = MilvusVectorIndex(DIM, b / "vectors.faiss", uri=milvus_server.uri)
    assert again.ids() == ["x"] and other.ids() == []
    index.drop()
    other.drop()


def test_dimension_mismatch_is_a_clear_error(milvus: MilvusVectorIndex) -> None:
    with pytest.raises(StoreError, match="dimension"):
        MilvusVectorIndex(DIM + 1, uri=milvus.uri, collection=milvus.collection)


def test_token_from_a_named_env_var(milvus_server: MilvusLiteServer, milvus_collection: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TGRAG_NO_SUCH_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="TGRAG_NO_SUCH_TOKEN"):
        MilvusVectorIndex(DIM, uri=milvus_server.uri, collection=milvus_collection, token_env="TGRAG_NO_SUCH_TOKEN")
    monkeypatch.setenv("TGRAG_TEST_MILVUS_TOKEN", "root:Milvus")
    index = MilvusVectorIndex(DIM, uri=milvus_server.uri, collection=milvus_collection,
                              token_env="TGRAG_TEST_MILVUS_TOKEN", database="tgtestdb")
    index.add(["a"], VECS[:1])
    assert index.ids() == ["a"]
    index.drop()
    index.close()


def test_bad_config_is_rejected(milvus_server: MilvusLiteServer) -> None:
    with pytest.raises(ConfigError, match="collection"):
        MilvusVectorIndex(DIM, uri=milvus_server.uri)
    with pytest.raises(ConfigError, match="invalid Milvus collection name"):
        MilvusVectorIndex(DIM, uri=milvus_server.uri, collection="bad-name")


def test_server_that_cannot_start_raises_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = MilvusLiteServer(tmp_path, startup_timeout_s=10)
    monkeypatch.setattr(server, "command", lambda: ["sh", "-c", "echo no milvus here; exit 4"])
    with pytest.raises(StoreError, match="exited with code 4(.|\n)*no milvus here"):
        server.start()
    assert server.proc is not None and server.proc.returncode == 4


class _FlakyClient:
    """Stands in for pymilvus.MilvusClient: the first `failures` constructions raise `error`."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error = failures, error
        self.kwargs: list[dict] = []

    def __call__(self, **kwargs: object) -> _FlakyClient:
        self.kwargs.append(kwargs)
        if len(self.kwargs) <= self.failures:
            raise self.error
        return self

    def list_databases(self) -> list[str]:
        return ["default"]

    def use_database(self, name: str) -> None:
        pass

    def close(self) -> None:
        pass


def _connect_with(monkeypatch: pytest.MonkeyPatch, client: _FlakyClient, **kwargs: object) -> None:
    import pymilvus

    monkeypatch.setattr(pymilvus, "MilvusClient", client)
    monkeypatch.setattr(milvus_index.time, "sleep", lambda s: None)
    milvus_index._connect("http://127.0.0.1:1", "", "default", 5.0, {"x": 1}, kwargs.get("attempts", 3))


def test_a_connection_that_goes_away_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    from pymilvus.exceptions import MilvusException

    goaway = MilvusException(code=2, message="Fail connecting to server: <_MultiThreadedRendezvous "
                             "of RPC that terminated with: status = StatusCode.UNAVAILABLE>")
    client = _FlakyClient(2, goaway)
    _connect_with(monkeypatch, client)
    assert len(client.kwargs) == 3
    assert all(k["grpc_options"] == {"x": 1} and k["dedicated"] is True for k in client.kwargs)
    with pytest.raises(ConfigError, match="attempt 2 of 2"):
        _connect_with(monkeypatch, _FlakyClient(5, goaway), attempts=2)


def test_a_refused_request_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    from pymilvus.exceptions import MilvusException

    client = _FlakyClient(1, MilvusException(code=1100, message="invalid database name"))
    with pytest.raises(ConfigError, match="attempt 1 of 3.*invalid database name"):
        _connect_with(monkeypatch, client)
    assert len(client.kwargs) == 1


def test_idle_channels_do_not_ping(milvus_server: MilvusLiteServer, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict] = []
    real = milvus_index._connect

    def spy(uri: str, token: str, database: str, timeout_s: float, options: dict, attempts: int) -> object:
        seen.append(options)
        return real(uri, token, database, timeout_s, options, attempts)

    monkeypatch.setattr(milvus_index, "_connect", spy)
    index = MilvusVectorIndex(DIM, uri=milvus_server.uri, collection="tg_opts",
                              grpc_options={"grpc.max_send_message_length": 2**26})
    index.close()
    assert seen == [{"grpc.keepalive_permit_without_calls": 0, "grpc.max_send_message_length": 2**26}]
    with pytest.raises(ConfigError, match="connect_attempts"):
        MilvusVectorIndex(DIM, uri=milvus_server.uri, collection="tg_opts", connect_attempts=0)
