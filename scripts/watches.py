"""Saved questions from the command line: python scripts/watches.py COMMAND [options].

The command is kb.cli.watches (installed as kb-watches too); its docstring and the README say
what it does and how it exits.
"""

from kb.cli.watches import main

if __name__ == "__main__":
    raise SystemExit(main())
