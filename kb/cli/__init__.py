"""The command lines: argparse in, a KnowledgeBase call, a summary or JSON out, an exit code.

scripts/ingest.py and scripts/watches.py (and the kb-ingest and kb-watches entry points) are
thin wrappers over kb.cli.ingest.main and kb.cli.watches.main; scripts/evaluate.py, bench.py
and bench_freshness.py over kb.cli.evaluate, kb.cli.bench and kb.cli.bench_freshness. This is
kb's edge: the only package that prints, configures logging or turns a KBError into an exit
code (kb.cli.exits); nothing else in kb imports it.
"""
