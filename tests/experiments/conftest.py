"""Fixtures for the experiment tests: Hydra compose helpers and a tiny demo index built with fakes."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from experiments.build import register_resolvers

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


@pytest.fixture(scope="session")
def bolt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real Bolt server (ArcadeDB), started once; fails (never skips) when it cannot start."""
    from tgrag.kernel import StoreError
    from tgrag.stores.arcadedb_server import ArcadeDBBoltServer

    server = ArcadeDBBoltServer(tmp_path_factory.mktemp("arcadedb"), heap="512m")
    try:
        server.start()
    except StoreError as exc:
        pytest.fail(f"the ArcadeDB Bolt server did not start: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def bolt(bolt_server: object) -> Iterator[dict[str, str]]:
    """Connection settings of a fresh database on the session's server."""
    name = bolt_server.create_database(f"exptest{next(_DB_COUNTER)}")  # type: ignore[attr-defined]
    yield {"uri": bolt_server.uri, "user": bolt_server.user, "password": bolt_server.password,  # type: ignore[attr-defined]
           "database": name}
    bolt_server.drop_database(name)  # type: ignore[attr-defined]


_DB_COUNTER = itertools.count(1)
