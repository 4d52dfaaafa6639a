"""Where the measuring code finds ../shared: the real data sets and the newsroom, read at run time
only (some have no licence to copy), so never copied into the repository.

SHARED is the folder `shared` beside the checkout (the parent of kb's repository root, which
is where an editable install, `pip install -e .`, leaves the kb package). The newsroom,
shared/tools/newsroom.py (standard library only; 485 real articles in 177 feeds on loopback),
is no installed package: it is imported from there by its path, here and nowhere else.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
NEWSROOM = SHARED / "tools" / "newsroom.py"


def newsroom() -> ModuleType:
    """shared/tools/newsroom.py as the module `newsroom` (its Newsroom serves the feeds);
    FileNotFoundError when ../shared is not beside the checkout."""
    if "newsroom" in sys.modules:
        return sys.modules["newsroom"]
    if not NEWSROOM.is_file():
        raise FileNotFoundError(f"no newsroom at {NEWSROOM} (../shared beside the checkout)")
    spec = importlib.util.spec_from_file_location("newsroom", NEWSROOM)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {NEWSROOM}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["newsroom"] = module  # its dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module
