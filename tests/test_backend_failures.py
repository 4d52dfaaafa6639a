"""The command lines print a clear error, never a traceback, for every failure of the three
backends: a PostgreSQL server that is down or refuses the password, a Chroma server that is
down, and a full disk under the embedded index. Real processes, real servers on loopback."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fixture_feeds
from pg_server import PASSWORD, PostgresServer
from server import FixtureServer

ROOT = Path(__file__).resolve().parents[1]
INGEST = ROOT / "scripts" / "ingest.py"
WATCHES = ROOT / "scripts" / "watches.py"


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(
    script: Path, args: list[str], env: dict[str, str], **kwargs: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        env={**os.environ, "KB_BACKEND": "hash", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


def assert_clean_failure(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode in (1, 2), (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert message in result.stderr, result.stderr
    assert PASSWORD not in result.stderr + result.stdout


@pytest.mark.parametrize("script", [INGEST, WATCHES])
def test_a_postgres_server_that_is_down(script: Path, tmp_path: Path) -> None:
    """Named with --database-url (ingest) or KB_DATABASE_URL (saved questions)."""
    port = closed_port()
    url = f"postgresql://kb:{PASSWORD}@127.0.0.1:{port}/kb"
    if script == INGEST:
        env, args = {}, ["--index-dir", str(tmp_path), "--database-url", url]
    else:
        env, args = {"KB_DATABASE_URL": url}, ["--index-dir", str(tmp_path), "list"]
    result = run(script, args, env)
    assert_clean_failure(
        result, f"cannot reach the catalog database postgresql://kb@127.0.0.1:{port}/kb"
    )
    assert "Connection refused" in result.stderr


def test_a_wrong_postgres_password(postgres_server: PostgresServer, tmp_path: Path) -> None:
    env = {"KB_DATABASE_URL": postgres_server.url().replace(PASSWORD, "wrong-password")}
    result = run(INGEST, ["--index-dir", str(tmp_path)], env)
    assert_clean_failure(result, 'password authentication failed for user "postgres"')
    assert "wrong-password" not in result.stderr


def test_a_chroma_server_that_is_down(tmp_path: Path, server: FixtureServer) -> None:
    port = closed_port()
    env = {"KB_CHROMA_URL": f"http://127.0.0.1:{port}"}
    result = run(INGEST, [*fixture_feeds(server), "--index-dir", str(tmp_path)], env)
    assert_clean_failure(result, f"cannot open the Chroma store at http://127.0.0.1:{port}")
    assert "Could not connect to a Chroma server" in result.stderr


def test_a_full_disk_under_the_embedded_index(tmp_path: Path, server: FixtureServer) -> None:
    """The process may write no file past 256 KiB (RLIMIT_FSIZE; Python ignores SIGXFSZ, so a
    write past it fails as on a full disk); then, with room again, the next ingest completes."""
    index = tmp_path / "index"
    args = [*fixture_feeds(server), "--index-dir", str(index), "--allow-private-hosts"]

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    full = run(INGEST, args, {}, preexec_fn=small_disk)
    assert full.returncode in (1, 2), full.stderr
    assert "Traceback" not in full.stderr, full.stderr
    assert "error:" in full.stderr
    assert any(w in full.stderr.lower() for w in ("full", "too large", "disk")), full.stderr
    again = run(INGEST, args, {})
    assert again.returncode == 0, again.stderr
    assert "7 new" in again.stdout or "new" in again.stdout
