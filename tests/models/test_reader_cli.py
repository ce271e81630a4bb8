"""`--reader` on the CLI picks the embedded llama.cpp model (the index records no LLM: any may read)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tgrag.cli import main
from tgrag.models.assets import DEFAULT_READER, EMBEDDED_READERS, QWEN_05B, QWEN_15B


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_reader_flag_selects_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "d1", "title": "Veltrane", "date": "2020-03-01",
                                "text": "Mara Ellison is the chief executive of Veltrane Robotics."}) + "\n")
    idx = str(tmp_path / "idx")
    assert main(["index", idx, str(docs), "--reader", "1.5b", "--no-progress"]) == 0
    assert last_json(capsys.readouterr().out)["llm"] == QWEN_15B.name
    assert main(["stats", idx, "--reader", "qwen2.5-coder-0.5b"]) == 0
    assert json.loads(capsys.readouterr().out)["llm"] == QWEN_05B.name
    assert main(["stats", idx]) == 0
    assert json.loads(capsys.readouterr().out)["llm"] == EMBEDDED_READERS[DEFAULT_READER].name


def test_reader_conflicts_and_unknown_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    idx = tmp_path / "idx"
    idx.mkdir()
    assert main(["stats", str(idx), "--reader", "1.5b", "--gguf", "/models/x.gguf"]) == 2
    assert "--reader" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["ask", str(idx), "who?", "--reader", "7b"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
