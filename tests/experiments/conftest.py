"""Fixtures for the experiment tests: Hydra compose helpers and a tiny demo index built with fakes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from experiments.build import register_resolvers
from tgrag.stores.arcadedb_server import ArcadeDBBoltServer

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Paths resolve against the repo; caches and outputs go to a temp dir."""
    monkeypatch.setenv("TGRAG_ROOT", str(ROOT))
    monkeypatch.setenv("TGRAG_EXPERIMENT_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def make_cfg(env: Path) -> Iterator[Callable[[Sequence[str]], DictConfig]]:
    register_resolvers()

    def _compose(overrides: Sequence[str]) -> DictConfig:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides))

    yield _compose


@pytest.fixture
def bolt(bolt_server: ArcadeDBBoltServer, bolt_database: str) -> dict[str, str]:
    """Connection settings of a fresh database on the session's server (tests/conftest.py)."""
    return {"uri": bolt_server.uri, "user": bolt_server.user, "password": bolt_server.password,
            "database": bolt_database}


