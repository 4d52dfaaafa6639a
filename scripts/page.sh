#!/usr/bin/env bash
# Serve the page (app.py) on the index that KB_INDEX_DIR names (default ./index_store).
# It listens on loopback only (127.0.0.1:8501): anyone who reaches the page can add feeds and
# start refreshes. To serve it wider, put an authenticating reverse proxy in front (README,
# "Serving the page beyond this machine") and set KB_PAGE_ADDRESS (e.g. 0.0.0.0);
# KB_PAGE_PORT sets the port.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m streamlit run app.py \
  --browser.gatherUsageStats false \
  --server.address "${KB_PAGE_ADDRESS:-127.0.0.1}" \
  --server.port "${KB_PAGE_PORT:-8501}" \
  "$@"
