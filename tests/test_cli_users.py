"""`ews users create`: binds applicants to a municipality and prints a working API token as the last line."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import func, select

from ews_cases.models import User
from ews_cases.services.users import user_for_token


def ews(database_url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EWS_DATABASE_URL": database_url, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ews_cases.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_creates_an_applicant_and_prints_a_working_token_last(database_url, db, session):
    result = ews(
        database_url,
        "users",
        "create",
        "--email",
        "Erika@Example.org",
        "--name",
        "Erika Beispiel",
        "--role",
        "applicant",
        "--municipality",
        "05966012",
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    user = user_for_token(session, token)
    assert user is not None
    assert (user.email, user.role, user.municipality_ags) == ("erika@example.org", "applicant", "05966012")


def test_refuses_an_applicant_without_municipality_and_an_unknown_ags(database_url, db, session):
    missing = ews(
        database_url, "users", "create", "--email", "a@example.org", "--name", "A", "--role", "applicant"
    )
    unknown = ews(
        database_url,
        "users",
        "create",
        "--email",
        "b@example.org",
        "--name",
        "B",
        "--role",
        "reviewer",
        "--municipality",
        "05999999",
    )
    assert (missing.returncode, unknown.returncode) == (2, 2)
    assert "Kommune" in missing.stderr
    assert "05999999" in unknown.stderr
    assert session.scalar(select(func.count()).select_from(User)) == 0


def test_a_chosen_password_follows_the_password_rules(database_url, db, session):
    weak = ews(database_url, "users", "create", "--email", "c@example.org", "--name", "C", "--role", "auditor",
               "--password", "passwort1234")  # fmt: skip
    assert weak.returncode == 2
    assert "password: Dieses Passwort ist zu verbreitet" in weak.stderr
    assert session.scalar(select(func.count()).select_from(User)) == 0
    good = ews(database_url, "users", "create", "--email", "c@example.org", "--name", "C", "--role", "auditor",
               "--password", "Prüfung mit langem Satz")  # fmt: skip
    assert good.returncode == 0, good.stderr
