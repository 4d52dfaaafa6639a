"""The feeds a command line names: FEED arguments, --feeds-file lists and --opml subscriptions."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from kb.config import Settings
from kb.errors import ConfigError, KBError
from kb.fetch import Fetcher
from kb.knowledge_base import parse_feeds_list


def named_feeds(
    feeds: Iterable[str], feeds_files: Iterable[str], opml: Iterable[str], settings: Settings
) -> list[str]:
    """The feeds given, then those of each feeds file and OPML list (a path or an http(s) URL,
    read with settings' fetcher); ConfigError when a list cannot be read or lists none."""
    sources, lists = list(feeds), [*feeds_files, *opml]
    with Fetcher(settings) as fetcher:
        for name in feeds_files:
            sources += parse_feeds_list(read_list(name, fetcher).decode("utf-8", "replace"))
        for name in opml:
            sources += opml_feeds(read_list(name, fetcher), name)
    if lists and not sources:
        raise ConfigError("the feeds file or OPML lists no feeds")
    return sources


def read_list(name: str, fetcher: Fetcher) -> bytes:
    """The bytes of a list named by a path or an http(s) URL; ConfigError when unreadable."""
    if name.startswith(("http://", "https://")):
        try:
            return fetcher.get(name, accept=()).body
        except KBError as exc:
            raise ConfigError(f"cannot read {name}: {exc}") from exc
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {name}: {exc.strerror or exc}") from exc


def opml_feeds(data: bytes, name: str) -> list[str]:
    """The xmlUrl of every outline of an OPML document."""
    try:
        root = ET.fromstring(data)  # noqa: S314 - OPML from the user; expat refuses external entities
    except ET.ParseError as exc:
        raise ConfigError(f"not a readable OPML file {name}: {exc}") from exc
    return [o.attrib["xmlUrl"].strip() for o in root.iter("outline") if o.attrib.get("xmlUrl")]
