"""``tgrag`` command line: index | insert | delete | ask | stats | summary | timeline | check | repair."""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from tgrag.kernel.errors import ConfigError, TgragError
from tgrag.models.assets import DEFAULT_READER, EMBEDDED_READERS, READER_ALIASES
from tgrag.render import citation_lines, timeline_lines, timings_line

READER_CHOICES = [*READER_ALIASES, *EMBEDDED_READERS]


def _model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(f"models (default: embedded offline MiniLM + {DEFAULT_READER} via llama.cpp)")
    g.add_argument("--embedder", help="sentence-transformers model: local path or hub id")
    g.add_argument("--reader", choices=READER_CHOICES,
                   help=f"embedded llama.cpp reader (default {DEFAULT_READER}; 0.5b / 1.5b are short names)")
    g.add_argument("--gguf", help="path of a GGUF model for llama.cpp")
    g.add_argument("--hf-model", help="transformers causal LM: local path or hub id")
    g.add_argument("--llm-url", help="base URL of an OpenAI-compatible server (vLLM, llama.cpp, Ollama /v1)")
    g.add_argument("--llm-model", default="default", help="model name for --llm-url")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY", help="env var holding the API key for --llm-url")
    n = p.add_argument_group("graph store (default: networkx inside the index directory)")
    n.add_argument("--neo4j-uri", help="bolt://host:7687 or neo4j://… to keep the graph in Neo4j")
    n.add_argument("--neo4j-user", default="neo4j")
    n.add_argument("--neo4j-password-env", default="NEO4J_PASSWORD")
    n.add_argument("--neo4j-database", default="neo4j")
    n.add_argument("--neo4j-namespace", help="the index's namespace in the database (default: the index "
                   "directory's name); indexes sharing a database need different ones")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--lock-timeout", type=float, default=60.0,
                   help="seconds a write waits for another process's write to this index (default 60)")


def _open(args: argparse.Namespace, *, need_llm: bool = True, verify: bool = True) -> Any:
    from tgrag.facade import TemporalGraphRAG

    embedder = llm = graph = None
    if args.embedder:
        from tgrag.models.embedders import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder(args.embedder)
    inner: Any = None
    if args.reader and (args.llm_url or args.hf_model or args.gguf):
        raise ConfigError("--reader picks an embedded model; it cannot be combined with --gguf, --hf-model "
                          "or --llm-url")
    if args.llm_url:
        from tgrag.models.openai_llm import OpenAICompatibleLLM

        inner = OpenAICompatibleLLM(args.llm_url, args.llm_model, api_key_env=args.api_key_env)
    elif args.hf_model:
        from tgrag.models.transformers_llm import TransformersLLM

        inner = TransformersLLM(args.hf_model)
    elif args.gguf:
        from tgrag.models.llamacpp_llm import LlamaCppLLM

        inner = LlamaCppLLM(args.gguf)
    elif args.reader:
        from tgrag.models.llamacpp_llm import LlamaCppLLM

        inner = LlamaCppLLM(model=args.reader)
    if inner is not None:
        from tgrag.models.cache import CachedLLM

        llm = CachedLLM(inner, Path(args.index) / "llm_cache.sqlite")
    if args.neo4j_uri:
        from tgrag.stores.neo4j_store import Neo4jGraphStore

        namespace = args.neo4j_namespace or re.sub(r"[^A-Za-z0-9_.-]", "_", Path(args.index).resolve().name)[:100]
        graph = Neo4jGraphStore(args.neo4j_uri, args.neo4j_user, args.neo4j_password_env, args.neo4j_database,
                                namespace=namespace)
    return TemporalGraphRAG.open(args.index, embedder=embedder, llm=llm, graph_store=graph,
                                 show_progress=not args.no_progress, lock_timeout=args.lock_timeout,
                                 verify=verify)


def _print_answer(ans: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(ans.to_dict(), indent=2, ensure_ascii=False))
        return
    print(f"Q: {ans.question}")
    print(f"A: {'(abstained: the evidence does not support an answer)' if ans.abstained else ans.text}")
    if ans.time_scope is not None:
        print(f"time scope: {ans.time_scope.describe()}")
    print("\n".join(citation_lines(ans)))
    print(f"timings: {timings_line(ans)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="tgrag", description="Temporal graph RAG over dated documents.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("index", help="build an index from JSONL files (id, title, text, date)")
    p.add_argument("index")
    p.add_argument("files", nargs="+")
    p.add_argument("--rebuild", action="store_true", help="delete an existing index first")
    p = sub.add_parser("insert", help="add or update documents in an index")
    p.add_argument("index")
    p.add_argument("files", nargs="+")
    p = sub.add_parser("delete", help="remove documents by id")
    p.add_argument("index")
    p.add_argument("doc_ids", nargs="+")
    p = sub.add_parser("ask", help="answer a question with citations")
    p.add_argument("index")
    p.add_argument("question")
    p.add_argument("--as-of", help="only evidence dated up to this date/period (e.g. 2024-06-30, 2024-Q2)")
    p.add_argument("--between", nargs=2, metavar=("START", "END"), help="only evidence within this period")
    p.add_argument("--question-date", help="date the question is asked (for 'last quarter' etc.)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("stats", help="counts of documents, passages, entities, facts, time nodes, hops")
    p.add_argument("index")
    p = sub.add_parser("summary", help="the time-tree summary of a period (2024, 2024-Q3, 2024-07, 2024-07-15)")
    p.add_argument("index")
    p.add_argument("period")
    p = sub.add_parser("timeline", help="facts about an entity in time order")
    p.add_argument("index")
    p.add_argument("entity")
    p = sub.add_parser("check", help="list every inconsistency between documents, passages, vectors and graph")
    p.add_argument("index")
    p = sub.add_parser("repair", help="rebuild graph, vectors and caches from the stored documents")
    p.add_argument("index")
    for name in ("index", "insert", "delete", "ask", "stats", "summary", "timeline", "check", "repair"):
        _model_args(sub.choices[name])
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except TgragError as e:
        print(f"tgrag {args.cmd}: error: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from tgrag.ingest import load_documents

    if args.cmd in ("index", "insert"):
        docs = load_documents(args.files)  # validate everything before touching the index
        if args.cmd == "index" and args.rebuild and Path(args.index).exists():
            shutil.rmtree(args.index)
        rag = _open(args)
        report = rag.insert(docs)
        print(json.dumps(report.to_dict(), indent=2))
        print(json.dumps(rag.stats()))
        return 0
    if not Path(args.index).exists():
        print(f"tgrag {args.cmd}: error: no index at {args.index} (build one with `tgrag index`)", file=sys.stderr)
        return 2
    if args.cmd in ("check", "repair"):
        from tgrag.integrity import check

        rag = _open(args, verify=False)
        problems = check(rag)
        if args.cmd == "check":
            for line in problems:
                print(line)
            print(f"{args.index}: generation {rag.generation}, "
                  f"{'consistent' if not problems else f'{len(problems)} problem(s)'}")
            return 1 if problems else 0
        for line in problems:
            print(f"found: {line}")
        print(json.dumps(rag.repair()))
        left = check(rag)
        print(f"{args.index}: {'consistent' if not left else f'{len(left)} problem(s) left'}")
        return 1 if left else 0
    rag = _open(args)
    if args.cmd == "delete":
        for doc_id in args.doc_ids:
            print(json.dumps(rag.delete(doc_id).to_dict()))
    elif args.cmd == "ask":
        ans = rag.query(args.question, as_of=args.as_of, between=tuple(args.between) if args.between else None,
                        question_date=args.question_date)
        _print_answer(ans, args.json)
    elif args.cmd == "stats":
        print(json.dumps(rag.stats(), indent=2))
    elif args.cmd == "summary":
        node = rag.summary(args.period)
        if node is None:
            print(f"no content for period {args.period}")
            return 1
        print(f"{node.node_id} [{node.interval.label()}] {len(node.passage_ids)} passages, {len(node.fact_ids)} facts")
        print(node.summary)
    elif args.cmd == "timeline":
        facts = rag.timeline(args.entity)
        if not facts:
            print(f"no facts about {args.entity!r}")
            return 1
        print("\n".join(timeline_lines(facts, rag.entity_name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
