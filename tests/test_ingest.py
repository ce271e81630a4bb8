"""Input validation: precise errors, undated documents, chunking."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tgrag.ingest import chunk_text, document_from_row, load_documents, load_jsonl_documents, passages_of
from tgrag.kernel import Granularity, InputError


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "docs.jsonl"
    f.write_text('{"id": "a", "text": "ok", "date": "2021"}\n\n{"id": "b", "text": oops}\n')
    with pytest.raises(InputError) as e:
        load_jsonl_documents(f)
    assert e.value.line == 3 and e.value.path == str(f)
    assert f"{f}:3" in str(e.value)


def test_empty_text_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "docs.jsonl"
    f.write_text('{"id": "a", "text": "fine", "date": "2021"}\n{"id": "b", "text": "   "}\n')
    with pytest.raises(InputError) as e:
        load_jsonl_documents(f)
    assert e.value.doc_id == "b" and e.value.line == 2 and "empty" in str(e.value)


def test_unparseable_date_is_an_error_naming_the_document() -> None:
    with pytest.raises(InputError) as e:
        document_from_row({"id": "x", "text": "t", "date": "the day after never"}, path="in.jsonl", line=7)
    assert "in.jsonl:7" in str(e.value) and "'x'" in str(e.value)


def test_undated_document_is_accepted_with_detail_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="tgrag.ingest"):
        doc = document_from_row({"id": "u", "text": "No date here."}, path="in.jsonl", line=1)
    assert doc.date is None
    assert [(r.levelno, "in.jsonl:1" in r.getMessage() and "'u'" in r.getMessage()) for r in caplog.records] \
        == [(logging.DEBUG, True)]


def test_a_load_warns_once_about_its_undated_documents(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text("".join(json.dumps({"id": f"u{i}", "text": f"Undated {i}."}) + "\n" for i in range(8))
                     + json.dumps({"id": "dated", "text": "Dated.", "date": "2020"}) + "\n")
    second.write_text(json.dumps({"id": "v", "text": "Also undated."}) + "\n")
    with caplog.at_level(logging.WARNING, logger="tgrag.ingest"):
        load_jsonl_documents(first)
    [line] = [r.getMessage() for r in caplog.records]
    assert "a.jsonl: 8 of 9 documents have no date" in line
    assert "'u0', 'u1', 'u2', 'u3', 'u4', ..." in line and "'u5'" not in line
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tgrag.ingest"):
        load_documents([first, second])
    [line] = [r.getMessage() for r in caplog.records]
    assert "9 of 10 documents have no date" in line and str(second) in line
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tgrag.ingest"):
        load_jsonl_documents(first, warn=False)
    assert caplog.records == []


def test_granularity_kept_from_document_dates() -> None:
    assert document_from_row({"id": "y", "text": "t", "date": "2021"}).date.granularity is Granularity.YEAR
    assert document_from_row({"id": "m", "text": "t", "date": "2021-06"}).date.granularity is Granularity.MONTH
    assert document_from_row({"id": "d", "text": "t", "date": "2021-06-03"}).date.granularity is Granularity.DAY


def test_chunking_keeps_sentences_and_respects_budget() -> None:
    text = " ".join(f"Sentence number {i} says something short." for i in range(60))
    chunks = chunk_text(text, max_words=40, overlap_sentences=1)
    assert len(chunks) > 5
    assert all(len(c.split()) <= 40 for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    assert chunk_text("One short sentence.") == ["One short sentence."]


def test_passages_inherit_date_and_ids_are_stable() -> None:
    doc = document_from_row({"id": "d1", "text": "A. B. C.", "date": "2020-02-02", "title": "T"})
    a, b = passages_of(doc), passages_of(doc)
    assert [p.passage_id for p in a] == [p.passage_id for p in b]
    assert all(p.date == doc.date and p.doc_id == "d1" for p in a)
