"""Benchmark kb: newsroom ingest, an unchanged re-ingest, and query latency from 4k to 1M passages.

The command is kb.cli.bench; its docstring says what it measures and how.
"""

from kb.cli.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
