"""kb for other programs: an MCP server (kb.serve.tools) and an HTTP JSON API (kb.serve.api)
over the same calls (kb.serve.service), returning the same payloads (kb.serve.payloads), behind
the same bearer tokens (kb.serve.access)."""
