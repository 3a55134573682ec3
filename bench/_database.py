"""What the benchmarks share: a fresh, migrated PostgreSQL database of their own, and the machine's load."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, text

from ews_cases.db.migrate import upgrade

#: Where the benchmarks create their databases (the local test server; EWS_BENCH_ADMIN_URL overrides it).
ADMIN_URL = os.environ.get("EWS_BENCH_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def fresh_database(name: str) -> str:
    """Drop and create database `name`, migrate it to the latest revision; returns its URL."""
    drop_database(name)
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    return url


def drop_database(name: str) -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def clean_up(name: str, folder: Path, *, keep: bool, kept: str) -> None:
    """Drop the run's database and folder, or (`--keep`) say what was kept for a look afterwards."""
    if keep:
        print(f"kept: database {name}, {kept}")
    else:
        drop_database(name)
        shutil.rmtree(folder, ignore_errors=True)


def outcome(failures: list[str]) -> int:
    """The closing lines of a run and its exit status (1 if a check failed)."""
    print(f"\nload after: {uptime()}")
    if failures:
        print(f"FAILED: {failures}")
    return 1 if failures else 0
