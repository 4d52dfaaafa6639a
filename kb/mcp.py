"""python -m kb.mcp: the MCP server (kb-mcp); see kb.cli.serve."""

from kb.cli.serve import mcp_main

if __name__ == "__main__":
    raise SystemExit(mcp_main())
