"""python -m kb.api: the HTTP JSON API (kb-api); see kb.cli.serve."""

from kb.cli.serve import api_main

if __name__ == "__main__":
    raise SystemExit(api_main())
