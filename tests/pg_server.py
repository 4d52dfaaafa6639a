"""A real PostgreSQL server (Debian's postgresql package) in a temporary directory on loopback.

initdb and pg_ctl refuse to run as root, so as root they run as the `postgres` user (which
Debian's package creates); otherwise as the current user. TCP on 127.0.0.1 asks for a password
(scram-sha-256, as a real deployment would); the test session's own administration goes
through the server's Unix socket in its temporary directory, removed when it stops.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

#: The superuser's password over TCP.
PASSWORD = "kb-test-secret"  # noqa: S105 - a throwaway server on loopback


def postgres_bin() -> Path | None:
    """The directory of initdb and pg_ctl (Debian keeps them off PATH), or None."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class PostgresServer:
    """`with PostgresServer(tmp) as pg:` a running server; pg.url(schema) a URL on it."""

    def __init__(self) -> None:
        binaries = postgres_bin()
        if binaries is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = binaries
        # Its own directory right under the temporary root: the postgres user must reach it,
        # and pytest's directories are private to the user running the tests.
        self.directory = Path(tempfile.mkdtemp(prefix="kb-postgres-"))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def __enter__(self) -> PostgresServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._as:
            shutil.chown(self.directory, "postgres")
        data = self.directory / "data"
        self._run(
            "initdb",
            *("-D", str(data), "-U", "postgres", "-E", "UTF8"),
            *("--auth-local=trust", "--auth-host=scram-sha-256"),
        )
        self.start()
        self.admin(f"ALTER USER postgres PASSWORD '{PASSWORD}'")
        self.admin("CREATE DATABASE kb")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def stop(self) -> None:
        """Stop the server at once (in-flight sessions are cut, as in a crash)."""
        data = self.directory / "data"
        if data.exists():
            self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop", check=False)

    def start(self) -> None:
        """Start the server (again, after stop(): same directory, same port)."""
        self._run(
            "pg_ctl",
            *("-D", str(self.directory / "data"), "-l", str(self.directory / "server.log")),
            *("-w", "-t", "60", "-o"),
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c fsync=off -c max_connections=200",
            "start",
        )

    def url(self, schema: str | None = None, *, database: str = "kb") -> str:
        """A URL on the server; with schema, the knowledge base in that schema (created)."""
        base = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{self.port}/{database}"
        if schema is None:
            return base
        self.admin(f'CREATE SCHEMA IF NOT EXISTS "{schema}"', database=database)
        return f"{base}?options={quote(f'-csearch_path={schema}')}"

    def fresh_url(self) -> str:
        """A URL on an empty knowledge base of its own (a new schema)."""
        return self.url(f"kb_{uuid.uuid4().hex[:12]}")

    def admin(self, sql: str, *, database: str = "postgres") -> None:
        """Run one statement as the superuser."""
        import psycopg

        socket_dir = str(self.directory)
        with psycopg.connect(
            host=socket_dir, port=self.port, user="postgres", dbname=database, autocommit=True
        ) as conn:
            conn.execute(sql.encode())

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        subprocess.run(
            [*self._as, str(self.bin / tool), *args],
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd="/",
        )
