"""The commit protocol: SIGKILL at every write boundary, concurrent writers and readers, rollback
after failures inside the commit, check and repair. Fake models; real stores and spaCy."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.crash_worker import open_index
from tgrag.facade import TemporalGraphRAG
from tgrag.kernel import IndexCorruptError
from tgrag.transaction import BOUNDARIES

WORKER = str(Path(__file__).with_name("crash_worker.py"))
BASE = [
    {"id": "d1", "title": "Veltrane 2019", "date": "2019-03-02",
     "text": "Mara Ellison is the chief executive of Veltrane Robotics. Veltrane Robotics builds delivery drones."},
    {"id": "d2", "title": "Veltrane 2022", "date": "2022-07-01",
     "text": "Tobias Crane became the chief executive of Veltrane Robotics in July 2022."},
]
BATCH = [
    {"id": "d3", "title": "Quillfish", "date": "2021-03-14",
     "text": "On 14 March 2021, Veltrane Robotics acquired Quillfish Labs. Quillfish Labs makes sensors."},
    {"id": "d4", "title": "Harbor note", "date": "2020-05-01",
     "text": "Harrowgate harbor reopened after repairs. Mara Ellison visited Harrowgate harbor."},
    dict(BASE[0], text=BASE[0]["text"] + " It is based in Harrowgate."),  # a replacement
]


def state(rag: TemporalGraphRAG) -> dict[str, Any]:
    """Everything an index holds: documents, passages, vectors (ids and values), facts, entities,
    time nodes with their summaries, hops with their scores."""
    g = rag.graph
    ids = sorted(rag.vectors.ids())
    vecs = np.stack([rag.vectors.vector(i) for i in ids]) if ids else np.zeros((0,))
    return {
        "docs": sorted(json.dumps(rag.docs.get_document(d).to_dict(), sort_keys=True)  # type: ignore[union-attr]
                       for d in rag.docs.document_ids()),
        "passages": sorted(json.dumps(p.to_dict(), sort_keys=True) for p in rag.docs.iter_passages()),
        "vectors": (ids, hashlib.sha256(np.round(vecs, 5).tobytes()).hexdigest()),
        "entities": sorted(json.dumps(e.to_dict(), sort_keys=True) for e in g.entities()),
        "facts": sorted(json.dumps(f.to_dict(), sort_keys=True) for f in g.facts()),
        "time_nodes": sorted(json.dumps(t.to_dict(), sort_keys=True) for t in g.time_nodes()),
        "hops": sorted(json.dumps(h.to_dict(), sort_keys=True) for h in g.hops()),
    }


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _worker(*args: str, wait: bool = True) -> Any:
    cmd = [sys.executable, WORKER, *args]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Clean builds: the base, base + batch in one insert, and that minus d2."""
    root = tmp_path_factory.mktemp("clean")
    base = open_index(root / "base")
    base.insert(BASE)
    full = open_index(root / "full")
    full.insert([BATCH[2], BASE[1], *BATCH[:2]])
    out = {"base": state(base), "full": state(full)}
    full.delete("d2")
    out["full_minus_d2"] = state(full)
    return out


def _base_index(tmp_path: Path) -> Path:
    rag = open_index(tmp_path / "idx")
    rag.insert(BASE)
    rag.close()
    return tmp_path / "idx"


@pytest.mark.parametrize("where", BOUNDARIES)
def test_insert_killed_at_a_boundary_recovers(tmp_path: Path, where: str,
                                              expected: dict[str, dict[str, Any]]) -> None:
    idx = _base_index(tmp_path)
    docs = _jsonl(tmp_path / "batch.jsonl", BATCH)
    proc = _worker("insert", str(idx), str(docs), where)
    assert proc.returncode == -9, proc.stderr[-2000:]
    rag = open_index(idx)  # recovers; refuses to open an inconsistent index
    got = state(rag)
    # prepared by every store (the graph prepares last): rolled forward; before that: rolled back
    forward = ("prepared:graph", "prepared", "committed", "cleaned")
    assert got == (expected["full"] if where in forward else expected["base"])
    rag.insert(BATCH)  # re-running the interrupted insert gives the clean build
    assert state(rag) == expected["full"]
    assert state(open_index(idx)) == expected["full"]


@pytest.mark.parametrize("where", ["journalled", "prepared:vectors", "committed"])
def test_delete_killed_at_a_boundary_recovers(tmp_path: Path, where: str,
                                              expected: dict[str, dict[str, Any]]) -> None:
    idx = tmp_path / "idx"
    rag = open_index(idx)
    rag.insert([BATCH[2], BASE[1], *BATCH[:2]])
    rag.close()
    proc = _worker("delete", str(idx), "d2", where)
    assert proc.returncode == -9, proc.stderr[-2000:]
    rag = open_index(idx)
    assert state(rag) == (expected["full_minus_d2"] if where == "committed" else expected["full"])
    if "d2" in rag.docs.document_ids():
        rag.delete("d2")
    assert state(rag) == expected["full_minus_d2"]


def test_a_prepared_write_is_rolled_forward(tmp_path: Path, expected: dict[str, dict[str, Any]]) -> None:
    idx = _base_index(tmp_path)
    proc = _worker("insert", str(idx), str(_jsonl(tmp_path / "b.jsonl", BATCH)), "prepared")
    assert proc.returncode == -9
    assert state(open_index(idx)) == expected["full"]


def test_second_writer_waits_or_fails_naming_the_holder(tmp_path: Path) -> None:
    idx = _base_index(tmp_path)
    release = tmp_path / "release"
    first = _worker("insert", str(idx), str(_jsonl(tmp_path / "a.jsonl", BATCH[:1])), f"hold:written:{release}",
                    wait=False)
    assert first.stdout.readline().strip() == "started"
    assert first.stdout.readline().strip() == "at written"  # the first writer holds the lock until released
    impatient = _worker("insert", str(idx), str(_jsonl(tmp_path / "b.jsonl", BATCH[1:2])), "-", "0.5")
    assert impatient.returncode != 0
    assert f"process {first.pid} is writing this index" in impatient.stderr
    patient = _worker("insert", str(idx), str(_jsonl(tmp_path / "c.jsonl", BATCH[1:2])), "-", "120", wait=False)
    assert patient.stdout.readline().strip() == "started"  # opened; its insert now waits for the lock
    release.touch()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err[-2000:]
    out, err = patient.communicate(timeout=120)
    assert patient.returncode == 0, err[-2000:]
    rag = open_index(idx)
    assert set(rag.docs.document_ids()) == {"d1", "d2", "d3", "d4"}  # nothing lost


def test_reader_sees_the_committed_state_during_a_write(tmp_path: Path,
                                                        expected: dict[str, dict[str, Any]]) -> None:
    idx = _base_index(tmp_path)
    release = tmp_path / "release"
    writer = _worker("insert", str(idx), str(_jsonl(tmp_path / "a.jsonl", BATCH)), f"hold:prepared:{release}",
                     wait=False)
    assert writer.stdout.readline().strip() == "started"
    assert writer.stdout.readline().strip() == "at prepared"  # every file of the new generation written
    reader = open_index(idx)
    assert state(reader) == expected["base"]
    release.touch()
    assert writer.wait(timeout=120) == 0
    assert state(reader) == expected["base"] or state(reader) == expected["full"]
    assert reader.refresh()
    assert state(reader) == expected["full"]


@pytest.mark.parametrize("store", ["graph", "vectors", "passage_keys", "summary_vectors"])
def test_failure_inside_save_rolls_back_everything(tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch,
                                                   expected: dict[str, dict[str, Any]]) -> None:
    idx = _base_index(tmp_path)
    rag = open_index(idx)
    target = dict(rag._tx.participants)[store]

    def failing(generation: int) -> None:
        raise OSError("disk full (injected)")

    monkeypatch.setattr(target, "prepare", failing)
    with pytest.raises(OSError, match="injected"):
        rag.insert(BATCH)
    assert state(rag) == expected["base"]
    assert state(open_index(idx)) == expected["base"]
    monkeypatch.undo()
    rag.insert(BATCH)  # caches were restored: the same process then builds the clean index
    assert state(rag) == expected["full"]


def test_failed_delete_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  expected: dict[str, dict[str, Any]]) -> None:
    idx = tmp_path / "idx"
    rag = open_index(idx)
    rag.insert([BATCH[2], BASE[1], *BATCH[:2]])

    def failing(doc_id: str) -> list[str]:
        raise RuntimeError("injected failure after the graph was changed")

    monkeypatch.setattr(rag.docs, "delete_document", failing)
    with pytest.raises(RuntimeError, match="injected"):
        rag.delete("d2")
    assert state(rag) == expected["full"]
    assert state(open_index(idx)) == expected["full"]
    monkeypatch.undo()
    rag.delete("d2")
    assert state(rag) == expected["full_minus_d2"]


def test_incremental_inserts_equal_one_batch(tmp_path: Path, expected: dict[str, dict[str, Any]]) -> None:
    rag = open_index(tmp_path / "idx")
    for doc in [BASE[1], BATCH[1], BATCH[0], BATCH[2]]:  # another order, one document at a time
        rag.insert([doc])
    assert state(rag) == expected["full"]


def test_check_and_repair(tmp_path: Path, expected: dict[str, dict[str, Any]]) -> None:
    idx = tmp_path / "idx"
    rag = open_index(idx)
    rag.insert([BATCH[2], BASE[1], *BATCH[:2]])
    rag.close()
    for p in idx.glob("vectors.g*.faiss"):
        p.unlink()
    with pytest.raises(IndexCorruptError, match="tgrag repair"):
        open_index(idx)
    broken = open_index(idx, verify=False)
    from tgrag.integrity import check

    problems = check(broken)
    assert any("vectors" in p for p in problems) and any("passages without a vector" in p for p in problems)
    report = broken.repair()
    assert report["passages"] == len(expected["full"]["passages"])
    assert check(broken) == []
    assert state(open_index(idx)) == expected["full"]


def test_bad_input_writes_nothing(tmp_path: Path, expected: dict[str, dict[str, Any]]) -> None:
    from tgrag.kernel import InputError

    idx = _base_index(tmp_path)
    rag = open_index(idx)
    gen = rag.generation
    with pytest.raises(InputError, match="'bad'"):
        rag.insert([BATCH[0], {"id": "bad", "text": ""}])
    assert rag.generation == gen and state(open_index(idx)) == expected["base"]


def test_lock_is_released_by_a_killed_writer(tmp_path: Path) -> None:
    idx = _base_index(tmp_path)
    proc = _worker("insert", str(idx), str(_jsonl(tmp_path / "a.jsonl", BATCH)), "written")
    assert proc.returncode == -9
    t0 = time.monotonic()
    open_index(idx, lock_timeout=1.0).insert(BATCH[:1])
    assert time.monotonic() - t0 < 30
