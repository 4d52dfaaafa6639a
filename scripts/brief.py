"""A briefing from the command line: python scripts/brief.py [options].

The command is kb.cli.brief (installed as kb-brief too); its docstring and the README say what
it does and how it exits.
"""

from kb.cli.brief import main

if __name__ == "__main__":
    raise SystemExit(main())
