"""Sending one message to one destination: SMTP (smtplib), a webhook (httpx: a JSON POST with
an HMAC-SHA256 signature), or apprise. Each returns an Outcome: sent, try again (after the
receiver's Retry-After when it gives one), or failed for good (the receiver refuses it).

Every message carries its id (the webhook's X-KB-Delivery header and the payload's "id", the
email's Message-ID): a message sent again after a crash between sending and recording it (an
outbox can only promise "at least once" over SMTP and HTTP) can be dropped by its receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

import httpx

from kb.alerts.destinations import Destination, shown
from kb.config import Settings
from kb.fetch import check_url

#: Seconds a send may take.
SEND_TIMEOUT = 20.0
SIGNATURE_HEADER = "X-KB-Signature"
DELIVERY_HEADER = "X-KB-Delivery"
TIMESTAMP_HEADER = "X-KB-Timestamp"


@dataclass(frozen=True)
class Message:
    """What is sent: its id (stable across retries), a subject, plain text, HTML and the JSON
    payload a webhook receives."""

    message_id: str
    dest_id: int
    subject: str
    text: str
    html: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """sent, or not: retry (after retry_after seconds when the receiver said) or give up."""

    sent: bool
    error: str = ""
    retry: bool = True
    retry_after: float | None = None


SENT = Outcome(True)


def send(message: Message, destination: Destination, settings: Settings) -> Outcome:
    """Send message to destination; never raises for what the network or receiver does."""
    try:
        if destination.kind == "email":
            return send_email(message, destination, settings)
        if destination.kind == "webhook":
            return send_webhook(message, destination, settings)
        return send_apprise(message, destination)
    except Exception as exc:  # any failure of a receiver is an outcome, not a crash
        # Its message may quote the target whole: never its tokens in a log or on the page.
        said = str(exc).replace(destination.target, destination.shown)
        if destination.secret:
            said = said.replace(destination.secret, "…")
        return Outcome(False, f"{type(exc).__name__}: {said}")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature: sha256=HMAC-SHA256(secret, timestamp + "." + body), in hex."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def send_webhook(message: Message, destination: Destination, settings: Settings) -> Outcome:
    check_url(destination.target, allow_private_hosts=settings.allow_private_hosts)
    body = json.dumps(
        {"id": message.message_id, **message.payload}, ensure_ascii=False, sort_keys=True
    ).encode()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": settings.user_agent,
        DELIVERY_HEADER: message.message_id,
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: signature(destination.secret, stamp, body),
    }
    try:
        response = httpx.post(
            destination.target,
            content=body,
            headers=headers,
            timeout=SEND_TIMEOUT,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        return Outcome(False, f"{shown('webhook', destination.target)}: {type(exc).__name__}")
    if 200 <= response.status_code < 300:
        return SENT
    error = f"{shown('webhook', destination.target)} answered HTTP {response.status_code}"
    # A receiver that is busy or broken may take it later; one that refuses it will not.
    retry = response.status_code in (408, 425, 429) or response.status_code >= 500
    return Outcome(False, error, retry, retry_after(response.headers.get("Retry-After")))


def retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for (a number of seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def send_email(message: Message, destination: Destination, settings: Settings) -> Outcome:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = settings.smtp_from
    mail["To"] = destination.target
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<{message.message_id}@kb>"
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SEND_TIMEOUT) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(mail)
    except smtplib.SMTPRecipientsRefused as exc:
        return Outcome(False, f"the mail server refused {destination.target}: {exc}", retry=False)
    except (smtplib.SMTPException, OSError) as exc:
        where = f"{settings.smtp_host}:{settings.smtp_port}"
        return Outcome(False, f"mail server {where}: {type(exc).__name__}: {exc}")
    return SENT


def send_apprise(message: Message, destination: Destination) -> Outcome:
    import apprise

    sender = apprise.Apprise()
    if not sender.add(destination.target):
        return Outcome(False, f"apprise does not know {destination.shown}", retry=False)
    ok = sender.notify(
        title=message.subject, body=message.text, body_format=apprise.NotifyFormat.TEXT
    )
    return SENT if ok else Outcome(False, f"apprise could not notify {destination.shown}")
