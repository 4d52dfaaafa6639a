"""The servers' command lines: kb-mcp (also python -m kb.mcp) and kb-api (python -m kb.api).

    kb-mcp [--index-dir DIR] [--http [--host H] [--port P]]   MCP over stdio, or streamable HTTP
    kb-api [--index-dir DIR] [--host H] [--port P]            the HTTP JSON API

Both open the knowledge base the page opens (--index-dir, or KB_INDEX_DIR; KB_CHROMA_URL and
KB_DATABASE_URL for a team deployment), load the model once and serve every client from it.
Tokens come from KB_API_TOKEN and KB_ADMIN_TOKEN; without one, only loopback is served.
Exit codes: 0 stopped, 2 a usage or configuration error (a message, never a traceback).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from kb.cli.exits import USAGE, fail, opening
from kb.cli.ingest import settings_from
from kb.cli.options import add_index_options
from kb.config import BACKENDS
from kb.errors import ConfigError, KBError
from kb.knowledge_base import KnowledgeBase
from kb.serve.access import Tokens, check_bind
from kb.serve.service import Service

DEFAULT_HOST = "127.0.0.1"
DEFAULT_API_PORT = 8780
DEFAULT_MCP_PORT = 8781


def build_parser(program: str, *, mcp: bool) -> argparse.ArgumentParser:
    """The options both servers share, and the transport's."""
    parser = argparse.ArgumentParser(
        prog=program,
        description=(
            "Serve the kb knowledge base to MCP clients (stdio by default)."
            if mcp
            else "Serve the kb knowledge base as an HTTP JSON API (OpenAPI at /docs)."
        ),
    )
    add_index_options(parser)
    parser.add_argument("--model", default=None, help="embedding model (default: $KB_MODEL)")
    parser.add_argument("--backend", default=None, choices=BACKENDS, help="how the model runs")
    parser.add_argument(
        "--allow-private-hosts",
        action="store_true",
        default=None,
        help="let added feeds and refreshes read loopback/private addresses",
    )
    if mcp:
        parser.add_argument(
            "--http", action="store_true", help="serve streamable HTTP at /mcp instead of stdio"
        )
    port = DEFAULT_MCP_PORT if mcp else DEFAULT_API_PORT
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}; another needs KB_API_TOKEN)",
    )
    parser.add_argument("--port", type=int, default=port, help=f"port (default {port})")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    return parser


def _open(args: argparse.Namespace, *, server: str, check_host: bool) -> tuple[Service, Tokens]:
    tokens = Tokens.from_env()
    if check_host:
        check_bind(args.host, tokens, server=server)
    return Service(KnowledgeBase.open(settings=settings_from(args))), tokens


def _logging(verbose: int) -> None:
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _warm_up(service: Service) -> None:
    """Load the model in the background, so the first question does not wait on it."""

    def load() -> None:
        try:
            service.warm_up()
        except KBError as exc:
            logging.getLogger(__name__).warning("the model did not load: %s", exc)

    threading.Thread(target=load, name="kb-warm-up", daemon=True).start()


def mcp_main(argv: list[str] | None = None) -> int:
    """kb-mcp: serve the MCP tools over stdio, or over streamable HTTP with --http."""
    args = build_parser("kb-mcp", mcp=True).parse_args(argv)
    _logging(args.verbose)
    opened, code = opening(lambda: _open(args, server="kb-mcp", check_host=args.http))
    if opened is None:
        return code
    service, tokens = opened
    from kb.serve.tools import build_server, http_app

    _warm_up(service)
    try:
        if args.http:
            _serve(http_app(service, tokens, args.host), args.host, args.port, "kb-mcp", "/mcp")
        else:
            build_server(service).run("stdio")
    except KeyboardInterrupt:
        pass
    finally:
        service.kb.close()
    return 0


def api_main(argv: list[str] | None = None) -> int:
    """kb-api: serve the HTTP JSON API."""
    args = build_parser("kb-api", mcp=False).parse_args(argv)
    _logging(args.verbose)
    opened, code = opening(lambda: _open(args, server="kb-api", check_host=True))
    if opened is None:
        return code
    service, tokens = opened
    from kb.serve.api import create_app

    _warm_up(service)
    try:
        _serve(create_app(service, tokens), args.host, args.port, "kb-api", "/docs")
    except KeyboardInterrupt:
        pass
    finally:
        service.kb.close()
    return 0


def _serve(app: object, host: str, port: int, name: str, path: str) -> None:
    import uvicorn

    shown = f"[{host}]" if ":" in host else host
    print(f"{name}: serving http://{shown}:{port}{path}", file=sys.stderr, flush=True)
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise SystemExit(fail(ConfigError(f"could not listen on {shown}:{port}"), USAGE))
