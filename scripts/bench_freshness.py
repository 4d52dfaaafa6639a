"""What another process's refresh costs a process that only reads (an open page).

The command is kb.cli.bench_freshness; its docstring says what it measures and how.
"""

from kb.cli.bench_freshness import main

if __name__ == "__main__":
    raise SystemExit(main())
