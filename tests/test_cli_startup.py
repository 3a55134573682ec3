"""`ews` refuses to start on a database it cannot use or a broker that does not answer: one line, exit code 1.

The real entry points run as subprocesses, as an operator starts them. PostgreSQL "unreachable" is a closed
port on the loopback; "unmigrated" is a new, empty database on the test server (or an empty or missing SQLite
file); the broker is a closed port too. Each start must end with exactly one line that says what to do — no
traceback, no gunicorn worker booting and dying — and must not leave an empty SQLite file behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from testkit.processes import ROOT, free_port
from tests.conftest import _postgres_database

#: Must hold (issue 19): `ews web` with PostgreSQL unreachable exits within this many seconds.
UNREACHABLE_WITHIN_SECONDS = 10


def ews(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run `ews args` with a clean environment plus `env`; the result and how long it took."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("EWS_")}
    clean |= {"EWS_DATA_DIR": str(tmp_path / "var"), "EWS_PORT": str(free_port()), "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "ews_cases.cli", *args],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, time.monotonic() - started


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a refused start printed (stdout and stderr together)."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert "Booting worker" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


def test_ews_web_with_postgresql_unreachable_names_host_and_port(tmp_path):
    port = free_port()  # released again: nothing listens there
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/ews"
    result, seconds = ews(tmp_path, "web", "--workers", "1", EWS_DATABASE_URL=url)
    line = one_line(result)
    print(
        f"\n`ews web` with PostgreSQL unreachable: exit code {result.returncode} after {seconds:.2f}s: {line}"
    )
    assert seconds < UNREACHABLE_WITHIN_SECONDS
    assert f"127.0.0.1:{port}" in line
    assert "nicht erreichbar" in line


@pytest.mark.parametrize("command", [("worker",), ("beat",), ("outbox", "list")])
def test_other_commands_with_postgresql_unreachable_say_the_same(tmp_path, command):
    port = free_port()  # released again: nothing listens there
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/ews"
    result, _seconds = ews(tmp_path, *command, EWS_DATABASE_URL=url, EWS_REDIS_URL="redis://127.0.0.1:1/0")
    line = one_line(result)
    assert f"127.0.0.1:{port}" in line
    assert "nicht erreichbar" in line
    assert not (tmp_path / "var" / "celerybeat.lock").exists()  # beat checked before taking its lock


@pytest.fixture
def empty_postgres_database():
    yield from _postgres_database(f"ews_empty_{uuid.uuid4().hex[:8]}")


@pytest.mark.postgres
@pytest.mark.parametrize("command", [("web",), ("worker",), ("users", "list")])
def test_an_unmigrated_postgresql_database_says_to_run_ews_db_upgrade(
    tmp_path, empty_postgres_database, command
):
    result, _seconds = ews(tmp_path, *command, EWS_DATABASE_URL=empty_postgres_database)
    line = one_line(result)
    assert "`ews db upgrade`" in line
    assert "nicht migriert" in line  # an empty database, not a connection problem


@pytest.mark.sqlite
@pytest.mark.parametrize("command", [("web",), ("beat",), ("demo",), ("reminders", "run")])
def test_a_missing_sqlite_file_is_not_created_empty(tmp_path, command):
    path = tmp_path / "nowhere" / "ews.sqlite3"
    result, _seconds = ews(tmp_path, *command, EWS_DATABASE_URL=f"sqlite:///{path}")
    line = one_line(result)
    assert "`ews db upgrade`" in line
    assert str(path) in line
    assert not path.exists()


@pytest.mark.sqlite
def test_an_empty_sqlite_file_says_to_run_ews_db_upgrade_which_then_works(tmp_path):
    path = tmp_path / "ews.sqlite3"
    path.touch()
    url = f"sqlite:///{path}"
    line = one_line(ews(tmp_path, "web", EWS_DATABASE_URL=url)[0])
    assert "`ews db upgrade`" in line
    upgraded, _seconds = ews(tmp_path, "db", "upgrade", EWS_DATABASE_URL=url)
    assert upgraded.returncode == 0, upgraded.stderr
    listed, _seconds = ews(tmp_path, "outbox", "list", EWS_DATABASE_URL=url)
    assert listed.returncode == 0, listed.stderr


@pytest.mark.sqlite
def test_a_file_that_is_no_database_is_named_not_dumped(tmp_path):
    path = tmp_path / "ews.sqlite3"
    path.write_bytes(b"this is not a SQLite database, but a file of the same name" * 100)
    line = one_line(ews(tmp_path, "web", EWS_DATABASE_URL=f"sqlite:///{path}")[0])
    assert str(path) in line
    assert "lässt sich nicht lesen" in line


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_worker_and_beat_with_the_broker_unreachable_name_it(tmp_path, database_url, command):
    port = free_port()  # released again: nothing listens there
    result, seconds = ews(
        tmp_path, command, EWS_DATABASE_URL=database_url, EWS_REDIS_URL=f"redis://127.0.0.1:{port}/0"
    )
    line = one_line(result)
    assert f"127.0.0.1:{port}" in line
    assert "Broker" in line
    assert seconds < 30  # one attempt, no waiting for the broker (Celery alone would retry forever)


def test_a_command_prints_no_alembic_lines(tmp_path, database_url):
    """Every command checks the schema's revision; Alembic's INFO lines about it (and about its plugins)
    are routine and stay out of the output."""
    result, _seconds = ews(tmp_path, "outbox", "list", "--limit", "1", EWS_DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    assert "alembic" not in result.stderr
    assert "INFO" not in result.stderr


def test_loading_the_cli_leaves_the_metrics_library_unloaded():
    """prometheus_client picks the folder where processes count together when it is imported: `ews web` and
    `ews worker` set it first (server.py), so nothing the CLI imports up front (e.g. its checks) may load it."""
    probe = "import sys, ews_cases.cli.commands; print(sorted(m for m in sys.modules if 'prometheus' in m))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, "[]\n"), result.stderr
