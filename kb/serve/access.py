"""Who may call the servers: bearer tokens, and where a server may listen.

Two tokens: KB_API_TOKEN reads (ask, search, articles, feeds, stats, saved questions) and
KB_ADMIN_TOKEN also changes the knowledge base or makes it fetch URLs (add a feed, refresh). The
admin token does everything the read token does. Tokens are compared in constant time.

Without any token a server serves loopback only: it refuses to start on another address, since
anyone who reaches it could then read and change the knowledge base."""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from kb.errors import ConfigError

#: The environment variables the tokens come from.
READ_TOKEN_ENV = "KB_API_TOKEN"  # noqa: S105 (a variable's name, not a secret)
ADMIN_TOKEN_ENV = "KB_ADMIN_TOKEN"  # noqa: S105
#: A token shorter than this is refused: it could be guessed.
MIN_TOKEN_CHARS = 16
PROBLEM_TYPE = "application/problem+json"


class Access(Enum):
    """What a request may do."""

    NONE = 0
    READ = 1
    ADMIN = 2


@dataclass(frozen=True)
class Tokens:
    """The read and admin tokens ("" when unset). With neither set, every caller reads and
    administers: the server then listens on loopback only (check_bind)."""

    read: str = ""
    admin: str = ""

    @classmethod
    def from_env(cls) -> Tokens:
        """KB_API_TOKEN and KB_ADMIN_TOKEN; ConfigError for one too short to be safe."""
        tokens = cls(
            read=os.environ.get(READ_TOKEN_ENV, "").strip(),
            admin=os.environ.get(ADMIN_TOKEN_ENV, "").strip(),
        )
        for name, value in ((READ_TOKEN_ENV, tokens.read), (ADMIN_TOKEN_ENV, tokens.admin)):
            if value and len(value) < MIN_TOKEN_CHARS:
                raise ConfigError(
                    f"{name} is {len(value)} characters long; use at least {MIN_TOKEN_CHARS} "
                    "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
                )
        return tokens

    @property
    def required(self) -> bool:
        """Whether callers must present a token."""
        return bool(self.read or self.admin)

    def access(self, authorization: str | None) -> Access:
        """What the holder of an Authorization header may do."""
        if not self.required:
            return Access.ADMIN
        scheme, _, presented = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return Access.NONE
        given = presented.strip().encode()
        # Both comparisons always run, so the time taken says nothing about either token.
        is_admin = bool(self.admin) & hmac.compare_digest(given, self.admin.encode())
        is_reader = bool(self.read) & hmac.compare_digest(given, self.read.encode())
        if is_admin:
            return Access.ADMIN
        return Access.READ if is_reader else Access.NONE


def is_loopback(host: str) -> bool:
    """Whether a listening address is loopback only ("localhost", 127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tokens: Tokens, *, server: str) -> None:
    """ConfigError when a server without tokens would listen beyond loopback."""
    if tokens.required or is_loopback(host):
        return
    raise ConfigError(
        f"{server} will not listen on {host} without a token: anyone who reaches it could read "
        f"and change the knowledge base. Set {READ_TOKEN_ENV} (and {ADMIN_TOKEN_ENV} for "
        "adding feeds and refreshing), or listen on 127.0.0.1 behind a reverse proxy"
    )


#: What a request needs, by its method and path.
Needs = Callable[[str, str], Access]


class TokenGate:
    """ASGI middleware: a request without the token its route needs gets 401 (none, or not a
    token of ours) or 403 (the read token where the admin token is needed), as an RFC 9457
    problem, before anything reads its body."""

    def __init__(self, app: ASGIApp, tokens: Tokens, needs: Needs) -> None:
        self.app = app
        self.tokens = tokens
        self.needs = needs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        needed = self.needs(scope["method"], scope["path"])
        if needed is not Access.NONE:
            header = Headers(scope=scope).get("authorization")
            granted = self.tokens.access(header)
            if granted is Access.NONE:
                await problem_response(
                    401,
                    "Unauthorized",
                    "a bearer token is required (Authorization: Bearer ...)",
                    {"WWW-Authenticate": "Bearer"},
                )(scope, receive, send)
                return
            if granted.value < needed.value:
                await problem_response(
                    403, "Forbidden", f"this needs the admin token ({ADMIN_TOKEN_ENV})"
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)


def problem_response(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An RFC 9457 problem document."""
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type=PROBLEM_TYPE,
        headers=headers,
    )
