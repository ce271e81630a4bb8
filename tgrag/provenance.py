"""Where a result was measured: the code's git commit and the machine (cores, platform, load).

The one place benchmarks, experiment runs and the demo read it, so every result file records the
same fields.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CODE_PATHS = ("tgrag", "reasoning", "graph_index", "experiments", "bench", "conf", ":(exclude)bench/results")


def _git(*args: str, root: Path = ROOT) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def code_version(root: Path = ROOT) -> dict[str, Any]:
    """The short commit and whether the code (results excluded) had uncommitted changes; None outside git."""
    commit = _git("rev-parse", "--short", "HEAD", root=root) or None
    status = _git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS, root=root)
    return {"commit": commit, "uncommitted_changes_in_code": bool(status) if status is not None else None}


def machine_info(root: Path = ROOT) -> dict[str, Any]:
    """Cores, platform, Python, the code version and the load average now (latencies taken on busy
    cores are not comparable with quiet ones)."""
    return {"cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            **code_version(root), "load_average_1m": round(os.getloadavg()[0], 2),
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}
