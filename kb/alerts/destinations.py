"""Where alerts and briefings go: an email address (SMTP), a webhook (a JSON POST signed with
HMAC-SHA256), or any service apprise knows (Slack, Telegram, Matrix, ntfy, Discord, ... by its
URL). A destination's secret (a webhook's signing key, an apprise URL's tokens) is kept in the
catalog and never shown back: `shown` is what the page, the command line and the logs print.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from kb.errors import ConfigError, KBError
from kb.fetch import check_url

KINDS = ("email", "webhook", "apprise")
_EMAIL = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")
#: apprise schemes that post to a URL the user names: checked like a webhook.
_APPRISE_WEB = ("json", "jsons", "xml", "xmls", "form", "forms")
MAX_TARGET = 2000


@dataclass(frozen=True)
class Destination:
    """Where messages go. watch_id: only that saved question's alerts (None: every saved
    question's); briefings are sent to a destination by a schedule."""

    dest_id: int
    kind: str
    target: str
    secret: str
    watch_id: int | None
    created: datetime

    @property
    def shown(self) -> str:
        """The destination with its secrets hidden."""
        return shown(self.kind, self.target)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON values; never the secret."""
        return {
            "dest_id": self.dest_id,
            "kind": self.kind,
            "target": self.shown,
            "watch_id": self.watch_id,
            "created": self.created.isoformat(),
        }


def shown(kind: str, target: str) -> str:
    """A target as it may be shown: an email address whole; a URL's scheme, host and the
    first segment of its path, the rest (tokens, keys, passwords) replaced by '…'."""
    if kind == "email":
        return target
    parts = urlsplit(target)
    host = parts.hostname or ""
    first = parts.path.strip("/").split("/")[0] if parts.path.strip("/") else ""
    if kind == "apprise":  # the host part of an apprise URL is often a token itself
        return f"{parts.scheme}://…"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/{first + '/…' if first else ''}"


def checked(kind: str, target: str, secret: str, *, allow_private_hosts: bool) -> tuple[str, str]:
    """(target, secret) as stored, or ConfigError saying why they cannot be. A webhook (and an
    apprise URL that posts to a web address) passes the feeds' guard: a private or loopback
    address only with allow_private_hosts."""
    target = target.strip()
    if kind not in KINDS:
        raise ConfigError(f"a destination is one of {', '.join(KINDS)}, not {kind!r}")
    if not target or len(target) > MAX_TARGET:
        raise ConfigError(f"a destination needs a target of 1 to {MAX_TARGET} characters")
    if kind == "email":
        if not _EMAIL.fullmatch(target):
            raise ConfigError(f"not an email address: {target!r}")
        return target, ""
    if kind == "webhook":
        if len(secret) < 16:
            raise ConfigError("a webhook needs a signing secret of at least 16 characters")
        _guard(target, allow_private_hosts)
        return target, secret
    import apprise  # only when one is added or sent to

    if not apprise.Apprise().add(target):
        raise ConfigError(f"apprise does not know this URL: {shown(kind, target)}")
    scheme = urlsplit(target).scheme.lower()
    if scheme in _APPRISE_WEB:
        web = "https" if scheme.endswith("s") else "http"
        _guard(web + target[len(scheme) :], allow_private_hosts)
    return target, secret


def _guard(url: str, allow_private_hosts: bool) -> None:
    try:
        check_url(url, allow_private_hosts=allow_private_hosts)
    except KBError as exc:
        raise ConfigError(f"cannot send to {shown('webhook', url)}: {exc}") from None
