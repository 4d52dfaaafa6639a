"""Refresh the knowledge base from RSS/Atom feeds: python scripts/ingest.py [FEED ...] [options].

The command is kb.cli.ingest (installed as kb-ingest too); its docstring and the README say
what it does and how it exits.
"""

from kb.cli.ingest import main

if __name__ == "__main__":
    raise SystemExit(main())
