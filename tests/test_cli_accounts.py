"""`ews users list|deactivate|reactivate` and `ews tokens list|revoke`, run as the operator runs them (a
subprocess on the test database): what they print, what they change, what they audit, and how they fail."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ews_cases.audit.queries import resolved_data
from ews_cases.models import ApiToken, AuditEvent, User
from ews_cases.services.accounts import new_token
from ews_cases.services.users import create_user, user_for_token
from testkit.factories import ATTENDORN, FINNENTROP, SYSTEM
from tests.test_cli_users import ews


@pytest.fixture
def people(session, db) -> dict[str, User]:
    found = {
        "rita": create_user(
            session,
            SYSTEM,
            email="rita@finnentrop.de",
            name="Rita Rat",
            role="reviewer",
            municipality_ags=FINNENTROP,
        ),
        "anna": create_user(
            session,
            SYSTEM,
            email="anna@attendorn.de",
            name="Anna Auer",
            role="applicant",
            municipality_ags=ATTENDORN,
        ),
        "olaf": create_user(
            session, SYSTEM, email="olaf@example.org", name="Olaf Office", role="coordinator"
        ),
    }
    session.commit()
    return found


def audit(session, action: str) -> list[AuditEvent]:
    session.commit()
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


def test_users_list_filters_by_role_and_search(database_url, people):
    everyone = ews(database_url, "users", "list")
    assert everyone.returncode == 0, everyone.stderr
    lines = everyone.stdout.splitlines()
    assert [line.split()[3] for line in lines] == [
        "anna@attendorn.de",
        "olaf@example.org",
        "rita@finnentrop.de",
    ]
    assert "Zugänge: 3" in everyone.stderr
    anna = next(line for line in lines if "anna@" in line)
    assert anna.split()[1:3] == ["applicant", "active"]
    assert anna.rstrip().endswith("05966004 Attendorn")

    reviewers = ews(database_url, "users", "list", "--role", "reviewer")
    assert [line.split()[3] for line in reviewers.stdout.splitlines()] == ["rita@finnentrop.de"]
    found = ews(database_url, "users", "list", "--search", "AUER")
    assert [line.split()[3] for line in found.stdout.splitlines()] == ["anna@attendorn.de"]
    by_place = ews(database_url, "users", "list", "--municipality", "finnentrop")
    assert [line.split()[3] for line in by_place.stdout.splitlines()] == ["rita@finnentrop.de"]
    assert ews(database_url, "users", "list", "--role", "king").returncode == 2  # click refuses the choice


def test_deactivate_and_reactivate_stop_and_restore_tokens_audited_by_the_command(
    database_url, session, people
):
    rita = people["rita"]
    secret = new_token(session, SYSTEM, rita, name="Fachverfahren").secret
    session.commit()

    result = ews(database_url, "users", "deactivate", "RITA@finnentrop.de", "--reason", "ausgeschieden")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("deaktiviert:")
    assert user_for_token(session, secret) is None
    [event] = audit(session, "user.deactivated")
    assert (event.actor, resolved_data(session, event.data)) == (
        "system:cli:users-deactivate",
        {"user": rita.id, "reason": "ausgeschieden"},
    )
    inactive = ews(database_url, "users", "list", "--status", "inactive")
    assert "rita@finnentrop.de" in inactive.stdout

    again = ews(database_url, "users", "deactivate", "rita@finnentrop.de")
    assert (again.returncode, again.stdout.split(":")[0]) == (0, "unverändert, bereits inaktiv")
    assert len(audit(session, "user.deactivated")) == 1

    result = ews(database_url, "users", "reactivate", "rita@finnentrop.de")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("reaktiviert:")
    session.commit()
    assert user_for_token(session, secret).id == rita.id
    assert [e.actor for e in audit(session, "user.reactivated")] == ["system:cli:users-reactivate"]


@pytest.mark.parametrize("command", ["deactivate", "reactivate"])
def test_an_unknown_address_is_an_error_that_says_so(database_url, session, people, command):
    result = ews(database_url, "users", command, "niemand@example.org")
    assert result.returncode == 1
    assert "Einen Zugang mit der E-Mail-Adresse niemand@example.org gibt es nicht." in result.stderr
    assert result.stdout == ""
    assert audit(session, f"user.{command}d") == []


def test_the_last_active_admin_is_not_deactivated(database_url, session, people):
    admin = create_user(session, SYSTEM, email="admin@example.org", name="Ada Admin", role="admin")
    session.commit()
    result = ews(database_url, "users", "deactivate", "admin@example.org")
    assert result.returncode == 2
    assert "Der letzte aktive Administrationszugang bleibt bestehen" in result.stderr
    session.expire_all()
    assert session.get(User, admin.id).active
    session.commit()


def test_tokens_list_and_revoke(database_url, session, people):
    laptop = new_token(session, SYSTEM, people["rita"], name="Laptop")
    server = new_token(session, SYSTEM, people["olaf"], name="Server")
    session.commit()

    listed = ews(database_url, "tokens", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert [(int(r[0]), r[1], r[2], r[3]) for r in rows] == [
        (laptop.record.id, "active", "rita@finnentrop.de", "Laptop"),
        (server.record.id, "active", "olaf@example.org", "Server"),
    ]
    assert laptop.secret not in listed.stdout
    assert server.secret not in listed.stdout
    mine = ews(database_url, "tokens", "list", "--user", "olaf@example.org")
    assert [int(line.split()[0]) for line in mine.stdout.splitlines()] == [server.record.id]

    revoked = ews(database_url, "tokens", "revoke", str(laptop.record.id))
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.startswith("widerrufen:")
    assert user_for_token(session, laptop.secret) is None
    assert user_for_token(session, server.secret) is not None
    [event] = audit(session, "token.revoked")
    assert (event.actor, event.data) == (
        "system:cli:tokens-revoke",
        {"token": laptop.record.id, "user": people["rita"].id},
    )
    listed = ews(database_url, "tokens", "list", "--user", "rita@finnentrop.de")
    assert listed.stdout.split()[1] == "revoked"

    twice = ews(database_url, "tokens", "revoke", str(laptop.record.id))
    assert (twice.returncode, twice.stdout.split(":")[0]) == (0, "unverändert, bereits widerrufen")
    assert len(audit(session, "token.revoked")) == 1


def test_unknown_tokens_and_users_are_errors(database_url, session, people):
    unknown = ews(database_url, "tokens", "revoke", "999999")
    assert unknown.returncode == 1
    assert "Den Token 999999 gibt es nicht." in unknown.stderr
    nobody = ews(database_url, "tokens", "list", "--user", "niemand@example.org")
    assert nobody.returncode == 1
    assert "niemand@example.org" in nobody.stderr
    assert session.scalars(select(ApiToken)).all() == []
