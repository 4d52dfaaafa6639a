"""Stories from the command line: python scripts/stories.py [options].

The command is kb.cli.stories (installed as kb-stories too); its docstring and the README say
what it does and how it exits.
"""

from kb.cli.stories import main

if __name__ == "__main__":
    raise SystemExit(main())
