"""Embedded GGUF assembly: parts concatenated in order, size and sha256 checked, marker re-used."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tgrag.kernel.errors import ConfigError, ModelError, ModelIntegrityError
from tgrag.models import assets
from tgrag.models.assets import (
    DEFAULT_READER,
    EMBEDDED_READERS,
    QWEN_05B,
    QWEN_15B,
    EmbeddedGGUF,
    embedded_reader,
    gguf_path,
    part_paths,
)

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


@pytest.fixture
def fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Three importable part packages (``fakepartN`` with ``data/partNN.bin``) and a temp cache."""
    pkgs = tmp_path / "pkgs"
    names = []
    for i, blob in enumerate(PARTS, 1):
        name = f"tgrag_test_fakepart{i}"
        (pkgs / name / "data").mkdir(parents=True)
        (pkgs / name / "data" / f"part{i:02d}.bin").write_bytes(blob)
        (pkgs / name / "__init__.py").write_text(
            "import os\n\ndef get_part_path():\n"
            f"    return os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'part{i:02d}.bin')\n")
        names.append(name)
    monkeypatch.syspath_prepend(str(pkgs))
    monkeypatch.setenv("TGRAG_CACHE", str(tmp_path / "cache"))
    yield names
    for name in names:
        sys.modules.pop(name, None)


def spec(names: list[str], *, sha: str | None = None, size: int | None = None) -> EmbeddedGGUF:
    blob = b"".join(PARTS)
    return EmbeddedGGUF("fake", "fake-model.gguf", sha or hashlib.sha256(blob).hexdigest(),
                        len(blob) if size is None else size, tuple(names))


def test_readers_resolve_by_key_alias_and_default() -> None:
    assert embedded_reader("1.5b") is QWEN_15B and embedded_reader("qwen2.5-coder-0.5b") is QWEN_05B
    assert embedded_reader(None) is EMBEDDED_READERS[DEFAULT_READER]
    with pytest.raises(ConfigError, match="qwen2.5-coder-1.5b"):
        embedded_reader("qwen-7b")


def test_assembles_in_order_marks_verified_and_reuses(fake_parts: list[str], tmp_path: Path) -> None:
    path = gguf_path(spec(fake_parts))
    assert path == tmp_path / "cache" / "models" / "fake-model.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    assert path.with_suffix(".sha256-ok").read_text() == spec(fake_parts).sha256
    # verified once: a second call needs neither the packages nor a re-hash
    bogus = spec(["tgrag_test_not_installed"], sha=spec(fake_parts).sha256)
    assert gguf_path(bogus) == path


def test_parts_in_the_wrong_order_fail_the_checksum(fake_parts: list[str]) -> None:
    wrong = EmbeddedGGUF("fake", "fake-model.gguf", spec(fake_parts).sha256, spec(fake_parts).size,
                         tuple(reversed(fake_parts)))
    with pytest.raises(ModelIntegrityError) as e:
        gguf_path(wrong)
    assert e.value.expected == wrong.sha256
    assert not (Path(e.value.path)).exists(), "a file that failed verification must not stay"


def test_size_mismatch_fails_without_hashing(fake_parts: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_hash(path: Path, chunk: int = 0) -> str:
        raise AssertionError("hashed a file of the wrong size")

    monkeypatch.setattr(assets, "sha256_file", no_hash)
    with pytest.raises(ModelIntegrityError, match="size 1786"):
        gguf_path(spec(fake_parts, size=10))


def test_missing_package_names_it(fake_parts: list[str]) -> None:
    with pytest.raises(ModelError, match="tgrag-test-missing-part"):
        gguf_path(spec([*fake_parts, "tgrag_test_missing_part"]))


def test_installed_reader_packages_have_every_part_in_order() -> None:
    """The packages setup installed: part NN of each reader is partNN.bin and the sizes add up."""
    for model in EMBEDDED_READERS.values():
        paths = part_paths(model)
        assert [p.name for p in paths] == [f"part{i:02d}.bin" for i in range(1, len(model.parts) + 1)]
        assert sum(p.stat().st_size for p in paths) == model.size, model.key
    assert len(QWEN_15B.parts) == 22 and QWEN_15B.size == 1_117_320_768
