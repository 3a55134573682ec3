"""`ews db roles`: the application's PostgreSQL role may run the application but not change the audit trail.

Each test module run makes its own database (migrated to the head, owned by the test server's superuser, as a
schema owner) and an application role with a unique name, dropped again at the end. The command runs as its
own process, as an operator runs it; the checks then connect as the application role.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ews_cases.app import create_app
from ews_cases.db.engine import Database
from ews_cases.db.migrate import upgrade
from ews_cases.models import AuditChainHead, AuditEvent, Case, PersonalValue, case_chain
from ews_cases.services.checkpoints import write_checkpoint
from ews_cases.services.privacy import erase_case
from ews_cases.services.users import issue_token
from ews_cases.settings import Settings
from testkit.factories import FINNENTROP, Factory
from tests.conftest import POSTGRES_ADMIN_URL, _postgres_database
from workflows import Actor, State

REPO = Path(__file__).resolve().parents[1]
INSUFFICIENT_PRIVILEGE = "42501"


def ews(
    database_url: str, *args: str, password: str | None = None, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The `ews` command line in its own process against `database_url` (EWS_APP_DB_PASSWORD: `password`)."""
    environment = {k: v for k, v in os.environ.items() if k != "EWS_APP_DB_PASSWORD"}
    environment.update(extra or {})
    environment["EWS_DATABASE_URL"] = database_url
    if password is not None:
        environment["EWS_APP_DB_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-c", "from ews_cases.cli.commands import main; main()", *args],
        env=environment,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_roles_are_refused_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'ews.sqlite3'}"
    upgrade(url)
    result = ews(url, "db", "roles", "--app-role", "ews_app", password="not-used-here")
    assert result.returncode == 1
    assert "nur in PostgreSQL" in result.stderr
    assert "not-used-here" not in result.stdout + result.stderr


@dataclass
class AppRole:
    name: str
    password: str
    owner_url: str
    url: str
    granted: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def owner_url() -> Iterator[str]:
    for url in _postgres_database(f"ews_roles_{uuid.uuid4().hex[:8]}"):
        upgrade(url)
        yield url


@pytest.fixture(scope="module")
def app_role(owner_url: str) -> Iterator[AppRole]:
    name = f"ews_app_{uuid.uuid4().hex[:8]}"
    password = secrets.token_hex(16)
    granted = ews(owner_url, "db", "roles", "--app-role", name, password=password)
    url = make_url(owner_url).set(username=name, password=password).render_as_string(hide_password=False)
    try:
        yield AppRole(name, password, owner_url, url, granted)
    finally:
        owner = create_engine(owner_url, isolation_level="AUTOCOMMIT")
        with owner.connect() as connection:
            connection.execute(text(f'DROP OWNED BY "{name}"'))  # its privileges, here and on the database
        owner.dispose()
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        admin.dispose()


def _scram_matches(verifier: str, password: str) -> bool:
    """RFC 5802/7677: does a PostgreSQL SCRAM-SHA-256 verifier belong to `password`?"""
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return (
        method == "SCRAM-SHA-256"
        and hashlib.sha256(client_key).digest() == stored_key
        and hmac.new(salted, b"Server Key", "sha256").digest() == server_key
    )


def _verifier(role: str) -> str:
    admin = create_engine(POSTGRES_ADMIN_URL)
    with admin.connect() as connection:
        verifier = connection.execute(
            text("SELECT rolpassword FROM pg_authid WHERE rolname = :role"), {"role": role}
        ).scalar_one()
    admin.dispose()
    return verifier


def _privileges(url: str, role: str, table: str) -> set[str]:
    engine = create_engine(url)
    with engine.connect() as connection:
        held = {
            privilege
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
            if connection.execute(
                text("SELECT has_table_privilege(:role, :table, :privilege)"),
                {"role": role, "table": table, "privilege": privilege},
            ).scalar_one()
        }
    engine.dispose()
    return held


@pytest.mark.postgres
def test_the_command_creates_the_role_with_its_password_and_never_prints_it(app_role):
    result = app_role.granted
    assert result.returncode == 0, result.stderr
    assert f"Rolle {app_role.name} angelegt (Passwort gesetzt)" in result.stdout
    assert "public.audit_events: SELECT, INSERT\n" in result.stdout
    assert "public.audit_chain_heads: SELECT, INSERT, UPDATE\n" in result.stdout
    assert "public.personal_values: SELECT, INSERT, UPDATE\n" in result.stdout
    assert "public.cases: SELECT, INSERT, UPDATE, DELETE\n" in result.stdout
    assert app_role.password not in result.stdout + result.stderr
    # The server got a SCRAM verifier of exactly this password (the test server trusts local logins, so a
    # login would not prove it).
    assert _scram_matches(_verifier(app_role.name), app_role.password)
    assert not _scram_matches(_verifier(app_role.name), app_role.password + "x")


@pytest.mark.postgres
def test_the_role_appends_and_reads_the_audit_trail_but_cannot_change_it(app_role):
    database = Database(app_role.url)
    try:
        factory_session = database.session(write=True)
        with factory_session:
            Factory(factory_session).cohort()  # services append audit events as the application role
            factory_session.commit()
            assert factory_session.scalar(select(AuditEvent.id).limit(1)) is not None
        refused = {
            "UPDATE audit_events SET action = 'forged'": "permission denied for table audit_events",
            "DELETE FROM audit_events": "permission denied for table audit_events",
            "TRUNCATE audit_events": "permission denied for table audit_events",
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete": "must be owner",
            "ALTER TABLE audit_events DISABLE TRIGGER ALL": "must be owner",
            "DROP TRIGGER audit_events_no_truncate ON audit_events": "must be owner",
            "ALTER TABLE audit_events ADD COLUMN forged text": "must be owner",
            "DELETE FROM audit_chain_heads": "permission denied for table audit_chain_heads",
            "DELETE FROM personal_values": "permission denied for table personal_values",
            "CREATE TABLE shadow (id integer)": "permission denied for schema public",
            "SELECT setval('audit_events_id_seq', 1)": "permission denied for sequence audit_events_id_seq",
            "UPDATE alembic_version SET version_num = 'x'": "permission denied for table alembic_version",
        }
        for statement, reason in refused.items():
            with pytest.raises(DBAPIError) as refusal, database.engine.begin() as connection:
                connection.execute(text(statement))
            assert refusal.value.orig.sqlstate == INSUFFICIENT_PRIVILEGE, statement
            assert reason in str(refusal.value.orig), statement
    finally:
        database.dispose()


@pytest.mark.postgres
def test_the_application_runs_as_the_role(app_role, tmp_path):
    """Create and submit a case over the API, erase it, and verify the trail — all as the application role."""
    settings = Settings(
        env="test",
        database_url=app_role.url,
        data_dir=tmp_path,
        secret_key="test-secret-key",
        public_url="http://ews.test",
    )
    app = create_app(settings)  # also the start-up check: reads alembic_version
    database = app.extensions["ews"].db
    with app.app_context(), database.session(write=True) as session:
        factory = Factory(session)
        cohort = factory.cohort()
        applicant = factory.user("applicant", FINNENTROP)
        token = issue_token(session, Actor.system("tests"), applicant)
        session.commit()
        number, team_size = cohort.number, cohort.team_size

    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    body = {
        "cohort": number,
        "municipality": FINNENTROP,
        "contact": {"name": "Erika Beispiel", "email": "kontakt@example.org", "phone": "0123 4567"},
        "team": [
            {"name": f"Person {i}", "email": f"person{i}@example.org", "position": "Sachbearbeitung"}
            for i in range(1, team_size + 1)
        ],
        "answers": {
            "motivation": "Wir wollen Engagement stärken.",
            "starting_point": "Viele Vereine.",
            "goals": "Eine Engagementstrategie.",
            "leadership_support": "Bürgermeisterin Muster",
        },
        "consent": True,
    }
    created = client.post("/api/v1/cases", json=body, headers=headers)
    assert created.status_code == 201, created.get_data(as_text=True)
    case = created.get_json()
    submitted = client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"name": "submit", "version": case["version"]},
        headers=headers,
    )
    assert submitted.status_code == 200, submitted.get_data(as_text=True)
    assert submitted.get_json()["state"] == State.SUBMITTED.value

    # Erasure updates personal_values (value and salt to NULL), which the role may; the rows stay.
    held = select(PersonalValue.id).where(
        PersonalValue.case_id == case["id"], PersonalValue.value.is_not(None)
    )
    with app.app_context(), database.session(write=True) as session:
        before = set(session.scalars(held))
        erased = erase_case(session, session.get(Case, case["id"]), Actor.system("tests"), reason="Test")
        session.commit()
        assert erased is not None
        assert erased.values == len(before) > 0
        assert not before & set(session.scalars(held))
        head = select(AuditChainHead.position).where(AuditChainHead.chain == case_chain(case["id"]))
        assert session.scalar(head) >= 3  # created, submitted, erased: the head moved (UPDATE)

    # Signed checkpoints as the role: the log's state row and the signing key's latest checkpoint move (UPDATE).
    with app.app_context(), database.session(write=True) as session:
        first = write_checkpoint(session)
        session.commit()
        Factory(session).user("auditor")
        session.commit()
        second = write_checkpoint(session)
        session.commit()
        assert first is not None
        assert second is not None
        assert second.checkpoint.tree_size > first.checkpoint.tree_size

    database.dispose()
    # The same log origin and development signing key as the app above, so its checkpoints are this log's.
    same_log = {"EWS_PUBLIC_URL": settings.public_url, "EWS_DATA_DIR": str(tmp_path)}
    verified = ews(app_role.url, "audit", "verify", extra=same_log)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK: all chains verify" in verified.stdout
    assert "WARNING" not in verified.stdout  # neither a trigger problem nor a privilege of its own


@pytest.mark.postgres
def test_rerunning_after_a_later_migration_grants_the_new_tables(app_role):
    """A migration adds an ordinary table and an append-only one: until `ews db roles` runs again the role may
    only read and append to both (default privileges); afterwards it may change the ordinary one only."""
    owner = create_engine(app_role.owner_url)
    with owner.begin() as connection:
        exists = "SELECT to_regclass('audit_cosignatures') IS NOT NULL"
        merkle_migrated = connection.execute(text(exists)).scalar_one()
        connection.execute(text("CREATE TABLE later_notes (id serial PRIMARY KEY, note text)"))
        # As the Merkle log's migration adds its tables (a no-op once that migration exists).
        connection.execute(text("CREATE TABLE IF NOT EXISTS audit_cosignatures (id serial PRIMARY KEY)"))
    try:
        for table in ("later_notes", "audit_cosignatures"):
            assert _privileges(app_role.owner_url, app_role.name, table) == {"SELECT", "INSERT"}, table
        verifier = _verifier(app_role.name)

        again = ews(app_role.owner_url, "db", "roles", "--app-role", app_role.name)
        assert again.returncode == 0, again.stderr
        assert f"Rolle {app_role.name} aktualisiert (Passwort unverändert)" in again.stdout
        assert "public.audit_cosignatures: SELECT, INSERT\n" in again.stdout
        assert "public.later_notes: SELECT, INSERT, UPDATE, DELETE\n" in again.stdout
        assert _verifier(app_role.name) == verifier

        ordinary = {"SELECT", "INSERT", "UPDATE", "DELETE"}
        assert _privileges(app_role.owner_url, app_role.name, "later_notes") == ordinary
        for table in ("audit_events", "audit_cosignatures"):
            assert _privileges(app_role.owner_url, app_role.name, table) == {"SELECT", "INSERT"}, table
        database = Database(app_role.url)
        try:
            with database.engine.begin() as connection:  # the new table's sequence is usable
                connection.execute(text("INSERT INTO later_notes (note) VALUES ('x')"))
                connection.execute(text("UPDATE later_notes SET note = 'y'"))
        finally:
            database.dispose()
    finally:
        with owner.begin() as connection:
            connection.execute(text("DROP TABLE later_notes"))
            if not merkle_migrated:
                connection.execute(text("DROP TABLE audit_cosignatures"))
        owner.dispose()


@pytest.mark.postgres
def test_a_role_with_powers_or_the_owner_itself_is_refused(app_role):
    refused_self = ews(app_role.owner_url, "db", "roles", "--app-role", "postgres", password="whatever-pw")
    assert refused_self.returncode == 1
    assert "ist die angemeldete Rolle" in refused_self.stderr

    powerful = f"ews_powerful_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE ROLE "{powerful}" LOGIN CREATEDB CREATEROLE'))
    try:
        result = ews(app_role.owner_url, "db", "roles", "--app-role", powerful, password="whatever-pw")
        assert result.returncode == 1
        assert f"Die Rolle {powerful} hat CREATEROLE, CREATEDB: keine Anwendungsrolle" in result.stderr
        assert _privileges(app_role.owner_url, powerful, "audit_events") == set()  # nothing was granted
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP ROLE "{powerful}"'))
        admin.dispose()

    missing = ews(app_role.owner_url, "db", "roles", "--app-role", f"ews_new_{uuid.uuid4().hex[:8]}")
    assert missing.returncode == 1
    assert "EWS_APP_DB_PASSWORD setzen" in missing.stderr


@pytest.mark.postgres
def test_run_by_a_role_that_may_not_create_roles_it_fails_with_the_servers_reason_only(app_role):
    plain = f"ews_plain_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE ROLE "{plain}" LOGIN'))
    try:
        url = make_url(app_role.owner_url).set(username=plain).render_as_string(hide_password=False)
        password = secrets.token_hex(16)
        result = ews(url, "db", "roles", "--app-role", f"ews_new_{uuid.uuid4().hex[:8]}", password=password)
        assert result.returncode == 1
        assert result.stderr.strip().endswith("permission denied to create role")
        assert "CREATE ROLE" not in result.stderr  # the server's reason, not the statement
        assert password not in result.stdout + result.stderr
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP ROLE "{plain}"'))
        admin.dispose()


@pytest.mark.postgres
def test_an_unmigrated_database_is_refused():
    for url in _postgres_database(f"ews_roles_empty_{uuid.uuid4().hex[:8]}"):
        role = f"ews_app_{uuid.uuid4().hex[:8]}"
        result = ews(url, "db", "roles", "--app-role", role, password="whatever-pw")
        assert result.returncode == 1
        assert "nicht migriert: zuerst `ews db upgrade`" in result.stderr
        admin = create_engine(POSTGRES_ADMIN_URL)
        with admin.connect() as connection:  # refused before anything was created
            assert (
                connection.execute(
                    text("SELECT count(*) FROM pg_roles WHERE rolname = :role"), {"role": role}
                ).scalar_one()
                == 0
            )
        admin.dispose()
