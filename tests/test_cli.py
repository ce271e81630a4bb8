"""CLI error paths (no models needed: input is validated before the index is touched)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tgrag.cli import main


def test_malformed_jsonl_exits_2_naming_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text('{"id": "a", "text": "fine", "date": "2020"}\n{"id": "b", "text": \n')
    assert main(["index", str(tmp_path / "idx"), str(f)]) == 2
    err = capsys.readouterr().err
    assert f"{f}:2" in err and "malformed JSON" in err
    assert not (tmp_path / "idx").exists(), "a rejected input must not create an index"


def test_missing_file_and_missing_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["insert", str(tmp_path / "idx"), str(tmp_path / "nope.jsonl")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert main(["ask", str(tmp_path / "idx"), "who?"]) == 2
    assert "no index at" in capsys.readouterr().err
