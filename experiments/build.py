"""The one builder: Hydra config → typed components, each checked against its protocol.

``hydra.utils.instantiate`` builds every ``_target_``; the result must implement the protocol of
its group (``isinstance`` with the runtime-checkable kernel protocols), or a ``ConfigError`` names
the group and the target. Groups marked ``_partial_: true`` are finished here with the arguments
only the runner knows (index paths, the vector dimension, the LLM) and checked when finished.
Library code only ever receives the built objects, never a ``DictConfig``.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.errors import HydraException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from experiments.metering import MeteredLLM
from tgrag.kernel.errors import ConfigError, TgragError
from tgrag.kernel.protocols import LLM, Embedder, GraphStore, VectorIndex

_RESOLVERS_LOCK = threading.Lock()


def register_resolvers() -> None:
    """Resolvers the config files use (idempotent)."""
    with _RESOLVERS_LOCK:
        if not OmegaConf.has_resolver("smollm_path"):
            OmegaConf.register_new_resolver("smollm_path", _smollm_path)


def _smollm_path() -> str:
    from tgrag.models.assets import smollm_path

    return str(smollm_path())


def _target(node: Any) -> str:
    return str(node.get("_target_", "?")) if isinstance(node, DictConfig) else "?"


def instantiate_group(node: Any, group: str, **kwargs: Any) -> Any:
    """``instantiate`` with errors turned into ``ConfigError`` naming the group and target."""
    if not isinstance(node, DictConfig) or "_target_" not in node:
        raise ConfigError(f"config group {group!r} has no _target_ (got {OmegaConf.to_yaml(node) if isinstance(node, DictConfig) else node!r})")
    try:
        return instantiate(node, _convert_="all", **kwargs)
    except (HydraException, TypeError, ImportError, TgragError) as e:
        cause = e.__cause__ if isinstance(e.__cause__, TgragError | TypeError | ImportError) else e
        raise ConfigError(f"config group {group!r}: cannot build {_target(node)}: {cause}") from e


def check_protocol(obj: Any, protocol: type, group: str, target: str = "?") -> Any:
    if not isinstance(obj, protocol):
        raise ConfigError(f"config group {group!r}: {target} built a {type(obj).__name__}, "
                          f"which does not implement {protocol.__name__}")
    return obj


def build_checked(node: Any, protocol: type, group: str, **kwargs: Any) -> Any:
    """Instantiate a complete (non-partial) component and check its protocol."""
    obj = instantiate_group(node, group, **kwargs)
    if isinstance(obj, functools.partial):
        raise ConfigError(f"config group {group!r}: {_target(node)} is _partial_ but is expected complete")
    return check_protocol(obj, protocol, group, _target(node))


def build_factory(node: Any, protocol: type | None, group: str) -> Callable[..., Any]:
    """A callable finishing the component with runtime arguments, checking the result.

    A ``_partial_: true`` node is instantiated now (so a bad target fails early) and finished per
    call. A complete node (e.g. a Neo4j graph store, which does not live in the index directory)
    ignores the arguments and is built fresh per call, since an earlier instance may be closed."""
    target = _target(node)
    made = instantiate_group(node, group) if isinstance(node, DictConfig) and node.get("_partial_", False) else None

    def finish(*args: Any, **kwargs: Any) -> Any:
        if made is None:
            obj = instantiate_group(node, group)
        else:
            try:
                obj = made(*args, **kwargs)
            except TypeError as e:
                raise ConfigError(f"config group {group!r}: cannot finish {target}: {e}") from e
        return check_protocol(obj, protocol, group, target) if protocol is not None else obj

    return finish


# ---------------------------------------------------------------------------------------------
def build_llm(cfg: DictConfig) -> MeteredLLM:
    """The configured LLM, wrapped in the persistent cache (unless mode=off) and a usage meter."""
    inner = build_checked(cfg.llm, LLM, "llm")
    mode = str(cfg.llm_cache.mode)
    if mode != "off":
        from tgrag.models.cache import CachedLLM

        inner = check_protocol(CachedLLM(inner, Path(cfg.llm_cache.path), mode=mode), LLM, "llm_cache")
    return MeteredLLM(inner)


def build_embedder(cfg: DictConfig) -> Embedder:
    return build_checked(cfg.embedder, Embedder, "embedder")


def graph_store_factory(cfg: DictConfig) -> Callable[[Path | None], GraphStore]:
    finish = build_factory(cfg.graph_store, GraphStore, "graph_store")
    return lambda index_dir: finish(index_dir / "graph.json" if index_dir is not None else None)


def vector_index_factory(cfg: DictConfig) -> Callable[[int, Path | None], VectorIndex]:
    finish = build_factory(cfg.vector_index, VectorIndex, "vector_index")
    return lambda dim, index_dir: finish(dim, index_dir / "vectors.faiss" if index_dir is not None else None)


@dataclass(frozen=True)
class Extraction:
    """What the indexing config builds: the extractor, the summariser and the index options."""

    extractor: Any | None
    summariser: Any | None
    knowledge_graph: bool
    passage_graph: bool
    max_words: int
    passage_graph_options: Mapping[str, Any] = field(default_factory=dict)


def finish_with(factory: Callable[..., Any], available: Mapping[str, Any]) -> Any:
    """Finish a partial by passing the runtime components (``llm``, ``embedder``) its target's
    signature asks for and the config did not already bind."""
    fn = factory.func if isinstance(factory, functools.partial) else factory
    bound = set(factory.keywords) if isinstance(factory, functools.partial) else set()
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    return factory(**{k: v for k, v in available.items() if k in params and k not in bound})


def build_extraction(cfg: DictConfig, llm: LLM, embedder: Embedder) -> Extraction:
    from graph_index.protocols import FactExtractor, Summariser

    node = cfg.extraction
    available = {"llm": llm, "embedder": embedder}
    built: dict[str, Any] = {"extractor": None, "summariser": None}
    for key, protocol in (("extractor", FactExtractor), ("summariser", Summariser)):
        if node.get(key) is None:
            continue
        obj = instantiate_group(node[key], f"extraction.{key}")
        if isinstance(obj, functools.partial):
            obj = finish_with(obj, available)
        built[key] = check_protocol(obj, protocol, f"extraction.{key}", _target(node[key]))
    return Extraction(built["extractor"], built["summariser"], bool(node.knowledge_graph),
                      bool(node.passage_graph), int(node.max_words),
                      passage_graph_options(node.get("passage_graph_options")))


def passage_graph_options(node: Any) -> dict[str, Any]:
    """``extraction.passage_graph_options``: keyword settings of the passage-graph builder, checked
    against its signature so that a misspelt name fails here, naming the key."""
    from graph_index.passage_graph import PassageGraphBuilder

    if node is None:
        return {}
    options = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    if not isinstance(options, dict):
        raise ConfigError(f"extraction.passage_graph_options must be a mapping, got {options!r}")
    allowed = {name for name, p in inspect.signature(PassageGraphBuilder).parameters.items()
               if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in {"generator", "key_index"}}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigError(f"extraction.passage_graph_options: unknown option(s) {unknown}; "
                          f"PassageGraphBuilder takes {sorted(allowed)}")
    return {str(k): v for k, v in options.items()}


def build_settings(cfg: DictConfig, overrides: Mapping[str, Any] | None = None) -> Any:
    """``reasoning.settings`` with a method's ablation switches merged over it."""
    from reasoning.settings import ReasoningSettings

    node = cfg.reasoning.settings
    if overrides:
        unknown = set(overrides) - set(node.keys())
        if unknown:
            raise ConfigError(f"config group 'method': unknown reasoning settings {sorted(unknown)}")
        node = OmegaConf.merge(node, dict(overrides))
    return check_protocol_type(instantiate_group(node, "reasoning"), ReasoningSettings, "reasoning")


def check_protocol_type(obj: Any, cls: type, group: str) -> Any:
    if not isinstance(obj, cls):
        raise ConfigError(f"config group {group!r} built a {type(obj).__name__}, expected {cls.__name__}")
    return obj


COSMETIC_KEYS = frozenset({"show_progress"})  # settings that do not change what an index holds


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in COSMETIC_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def indexing_config(cfg: DictConfig) -> dict[str, Any]:
    """The part of the config that determines the built index (hashed into its cache key)."""
    uses_llm = bool(cfg.extraction.get("uses_llm", False))
    return _strip({"embedder": OmegaConf.to_container(cfg.embedder, resolve=True),
                   "graph_store": OmegaConf.to_container(cfg.graph_store, resolve=True),
                   "vector_index": OmegaConf.to_container(cfg.vector_index, resolve=True),
                   "extraction": OmegaConf.to_container(cfg.extraction, resolve=True),
                   # an LLM extractor / summariser makes the index depend on the model
                   "llm": OmegaConf.to_container(cfg.llm, resolve=True) if uses_llm else None})
