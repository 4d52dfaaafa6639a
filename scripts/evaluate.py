"""Retrieval, abstention and extraction quality of kb, with the real pipeline and model.

The command is kb.cli.evaluate; its docstring says what it measures and how.
"""

from kb.cli.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
