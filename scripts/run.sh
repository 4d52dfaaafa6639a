#!/usr/bin/env bash
# The main job on the embedded default: set up, ingest the default feeds into ./index_store,
# then open the Streamlit page on loopback (scripts/page.sh). Extra arguments go to
# scripts/ingest.py.
# An unreachable feed is reported (one line) and the page opens anyway.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh || exit $?
.venv/bin/python scripts/ingest.py "$@"
status=$?
if [ "$status" = 2 ]; then
  exit 2
fi
[ "$status" = 0 ] || echo "run.sh: some feeds failed (see above); opening the page anyway" >&2
exec bash scripts/page.sh
