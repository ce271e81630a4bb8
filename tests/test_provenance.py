"""tgrag.provenance: the commit and machine fields every result file records."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tgrag.provenance import code_version, machine_info


def test_outside_git_the_version_is_unknown_not_an_error(tmp_path: Path) -> None:
    assert code_version(tmp_path) == {"commit": None, "uncommitted_changes_in_code": None}


def test_a_commit_and_a_code_change_are_seen(tmp_path: Path) -> None:
    def git(*a: str) -> None:
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *a], cwd=tmp_path, check=True,
                       capture_output=True)

    git("init", "-q")
    (tmp_path / "tgrag").mkdir()
    (tmp_path / "tgrag" / "x.py").write_text("a = 1\n")
    git("add", ".")
    git("commit", "-q", "-m", "x")
    v = code_version(tmp_path)
    assert v["commit"] and len(v["commit"]) >= 7 and v["uncommitted_changes_in_code"] is False
    (tmp_path / "tgrag" / "x.py").write_text("a = 2\n")
    assert code_version(tmp_path)["uncommitted_changes_in_code"] is True
    info = machine_info(tmp_path)
    assert info["cores"] >= 1 and len(info["load_average_1_5_15"]) == 3 and info["commit"] == v["commit"]
