"""``tgrag`` command line: index | insert | delete | ask | stats | summary | timeline."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

from tgrag.kernel.errors import TgragError
from tgrag.render import citation_lines, timeline_lines, timings_line


def _model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("models (default: embedded offline MiniLM + Qwen2.5-0.5B via llama.cpp)")
    g.add_argument("--embedder", help="sentence-transformers model: local path or hub id")
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
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _open(args: argparse.Namespace, *, need_llm: bool = True) -> Any:
    from tgrag.facade import TemporalGraphRAG

    embedder = llm = graph = None
    if args.embedder:
        from tgrag.models.embedders import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder(args.embedder)
    inner: Any = None
    if args.llm_url:
        from tgrag.models.openai_llm import OpenAICompatibleLLM

        inner = OpenAICompatibleLLM(args.llm_url, args.llm_model, api_key_env=args.api_key_env)
    elif args.hf_model:
        from tgrag.models.transformers_llm import TransformersLLM

        inner = TransformersLLM(args.hf_model)
    elif args.gguf:
        from tgrag.models.llamacpp_llm import LlamaCppLLM

        inner = LlamaCppLLM(args.gguf)
    if inner is not None:
        from tgrag.models.cache import CachedLLM

        llm = CachedLLM(inner, Path(args.index) / "llm_cache.sqlite")
    if args.neo4j_uri:
        from tgrag.stores.neo4j_store import Neo4jGraphStore

        graph = Neo4jGraphStore(args.neo4j_uri, args.neo4j_user, args.neo4j_password_env, args.neo4j_database)
    return TemporalGraphRAG.open(args.index, embedder=embedder, llm=llm, graph_store=graph,
                                 show_progress=not args.no_progress)


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
    for name in ("index", "insert", "delete", "ask", "stats", "summary", "timeline"):
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
