"""The application's own PostgreSQL role, with the least privileges it needs (`ews db roles`).

The schema belongs to the role that runs the migrations (the owner). Web, worker and beat connect as the
application role, which may read and write the ordinary tables but only read and insert the append-only
audit tables (`audit.integrity.APPEND_ONLY_TABLES`): no UPDATE, DELETE or TRUNCATE, and as it owns nothing it
cannot ALTER a table or disable its triggers. Run as the owner (or a superuser) after every `ews db upgrade`:
the grants are set anew for every table that exists (docs/operations.md, "Database roles").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, bindparam, text

from ews_cases.audit.integrity import APPEND_ONLY_TABLES, WRITE_PRIVILEGES
from ews_cases.i18n.translate import _

#: A role name we create: lower-case letters, digits and underscores (nothing that would need quoting).
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
ORDINARY = ("SELECT", "INSERT", "UPDATE", "DELETE")
APPEND_ONLY = ("SELECT", "INSERT")
#: What the application role may do per table; every table not named here is ORDINARY.
TABLE_PRIVILEGES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(APPEND_ONLY_TABLES, APPEND_ONLY),
    # A chain's head moves with every event; verification checks it against the chain's last event.
    "audit_chain_heads": ("SELECT", "INSERT", "UPDATE"),
    # Erasure sets value and salt to NULL; the row stays, its id is what an event's commitment names.
    "personal_values": ("SELECT", "INSERT", "UPDATE"),
    # The start-up check reads the schema's revision; only migrations write it.
    "alembic_version": ("SELECT",),
}
#: What a table created later (by a migration, before `ews db roles` runs again) gives the application
#: role: enough to read and append, so a new audit table is never open to changes, not even for a moment.
DEFAULT_TABLE_PRIVILEGES = APPEND_ONLY
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT")  # nextval and currval; not UPDATE (setval)
#: Role attributes an application role must not have.
POWERS = {
    "rolsuper": "SUPERUSER",
    "rolcreaterole": "CREATEROLE",
    "rolcreatedb": "CREATEDB",
    "rolreplication": "REPLICATION",
    "rolbypassrls": "BYPASSRLS",
}


class RoleRefused(ValueError):
    """The role cannot be made the application role (the message says why, in German)."""


@dataclass(slots=True)
class RoleReport:
    role: str
    created: bool
    password_set: bool
    schema: str
    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Things to fix outside this command (German sentences).
    warnings: list[str] = field(default_factory=list)

    @property
    def append_only(self) -> list[str]:
        return [t for t in APPEND_ONLY_TABLES if t in self.tables]


def grant_application_role(connection: Connection, role: str, password: str | None) -> RoleReport:
    """Create or update `role` and set its privileges on every table and sequence of the current schema.

    Runs in the caller's transaction (all or nothing); idempotent. `password` None keeps an existing role's
    password; it is sent as a SCRAM verifier computed here, so the password itself never reaches the server
    (nor its statement log).
    """
    if connection.dialect.name != "postgresql":
        raise RoleRefused(_("Datenbankrollen gibt es nur in PostgreSQL (EWS_DATABASE_URL)."))
    if not ROLE_NAME.fullmatch(role):
        raise RoleRefused(
            _("Ungültiger Rollenname {role}: Kleinbuchstaben, Ziffern und _ (höchstens 63).", role=role)
        )
    me, schema, migrator = connection.execute(
        text(
            "SELECT current_user, current_schema(), "
            "(SELECT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            " WHERE n.nspname = current_schema() AND c.relname = 'alembic_version')"
        )
    ).one()
    if role == me:
        raise RoleRefused(
            _(
                "Die Anwendungsrolle {role} ist die angemeldete Rolle: `ews db roles` läuft als Eigentümer "
                "des Schemas, die Anwendung als eigene Rolle.",
                role=role,
            )
        )
    if migrator is None:
        raise RoleRefused(_("Die Datenbank ist nicht migriert: zuerst `ews db upgrade` ausführen."))
    existing = _refuse_powers(connection, role)
    report = RoleReport(role, created=existing is None, password_set=bool(password), schema=schema)
    quoted = connection.dialect.identifier_preparer.quote
    if existing is None:
        if not password:
            raise RoleRefused(
                _(
                    "Die Rolle {role} gibt es noch nicht: EWS_APP_DB_PASSWORD setzen, damit sie mit "
                    "Passwort angelegt wird.",
                    role=role,
                )
            )
        connection.execute(text(f"CREATE ROLE {quoted(role)} LOGIN"))
    else:
        connection.execute(text(f"ALTER ROLE {quoted(role)} LOGIN"))
    if password:
        _set_password(connection, role, password)
    _grant(connection, report, migrator)
    _check_append_only(connection, role, report)
    return report


def _refuse_powers(connection: Connection, role: str) -> Row[Any] | None:
    """The existing role's row (None: there is none), unless it has powers an application role must not
    have, or could act as the owner of a table in the schema."""
    existing = connection.execute(
        text(f"SELECT {', '.join(POWERS)} FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).one_or_none()
    if existing is None:
        return None
    powers = [name for column, name in POWERS.items() if existing._mapping[column]]
    if powers:
        raise RoleRefused(
            _(
                "Die Rolle {role} hat {powers}: keine Anwendungsrolle. Eine andere Rolle wählen "
                "(--app-role) oder ihr diese Rechte nehmen.",
                role=role,
                powers=", ".join(powers),
            )
        )
    owned = (
        connection.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
                "AND pg_has_role(:role, c.relowner, 'USAGE') ORDER BY c.relname"
            ),
            {"role": role},
        )
        .scalars()
        .all()
    )
    if owned:
        raise RoleRefused(
            _(
                "Die Rolle {role} ist Eigentümerin von {tables} (oder Mitglied der Eigentümerrolle): "
                "so könnte sie Trigger abschalten. Die Tabellen gehören der Rolle, die migriert.",
                role=role,
                tables=", ".join(owned),
            )
        )
    return existing


def _grant(connection: Connection, report: RoleReport, migrator: str) -> None:
    """Each table's privileges anew (`TABLE_PRIVILEGES`), the sequences, and the defaults for what the
    migrating role creates next."""
    quoted = connection.dialect.identifier_preparer.quote
    target, where = quoted(report.role), quoted(report.schema)
    database = quoted(connection.execute(text("SELECT current_database()")).scalar_one())
    connection.execute(text(f"GRANT CONNECT ON DATABASE {database} TO {target}"))
    connection.execute(text(f"GRANT USAGE ON SCHEMA {where} TO {target}"))
    tables = (
        connection.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname"
            )
        )
        .scalars()
        .all()
    )
    for name in tables:
        privileges = TABLE_PRIVILEGES.get(name, ORDINARY)
        table = f"{where}.{quoted(name)}"
        connection.execute(text(f"REVOKE ALL ON TABLE {table} FROM {target}"))
        connection.execute(text(f"GRANT {', '.join(privileges)} ON TABLE {table} TO {target}"))
        if name in APPEND_ONLY_TABLES:  # nobody but the owner: not through PUBLIC either
            connection.execute(text(f"REVOKE {', '.join(WRITE_PRIVILEGES)} ON TABLE {table} FROM PUBLIC"))
        report.tables[name] = privileges
    connection.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {where} FROM {target}"))
    connection.execute(
        text(f"GRANT {', '.join(SEQUENCE_PRIVILEGES)} ON ALL SEQUENCES IN SCHEMA {where} TO {target}")
    )
    # What the migrating role creates later (the next migration) is readable and appendable at once.
    defaults = f"ALTER DEFAULT PRIVILEGES FOR ROLE {quoted(migrator)} IN SCHEMA {where}"
    for kind in ("TABLES", "SEQUENCES"):
        connection.execute(text(f"{defaults} REVOKE ALL ON {kind} FROM {target}"))
    connection.execute(text(f"{defaults} GRANT {', '.join(DEFAULT_TABLE_PRIVILEGES)} ON TABLES TO {target}"))
    connection.execute(text(f"{defaults} GRANT {', '.join(SEQUENCE_PRIVILEGES)} ON SEQUENCES TO {target}"))


def _set_password(connection: Connection, role: str, password: str) -> None:
    """`ALTER ROLE … PASSWORD` with the SCRAM verifier libpq computes (the server's password_encryption)."""
    from psycopg import sql

    driver = connection.connection.driver_connection
    verifier = driver.pgconn.encrypt_password(password.encode(), role.encode(), None).decode()
    statement = sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier))
    with driver.cursor() as cursor:
        cursor.execute(statement)


def _check_append_only(connection: Connection, role: str, report: RoleReport) -> None:
    """After the grants: the role can change no append-only table by any route (membership, PUBLIC), and
    cannot create tables in the schema."""
    rows = connection.execute(
        text(
            "SELECT c.relname, "
            + ", ".join(f"has_table_privilege(:role, c.oid, '{p}') AS \"{p}\"" for p in WRITE_PRIVILEGES)
            + " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname IN :tables ORDER BY c.relname"
        ).bindparams(bindparam("tables", expanding=True)),
        {"role": role, "tables": list(APPEND_ONLY_TABLES)},
    )
    for row in rows:
        held = [privilege for privilege in WRITE_PRIVILEGES if row._mapping[privilege]]
        if held:
            raise RoleRefused(
                _(
                    "Die Rolle {role} darf {privileges} auf {table} über die Mitgliedschaft in einer "
                    "anderen Rolle: keine Anwendungsrolle.",
                    role=role,
                    privileges=", ".join(held),
                    table=row.relname,
                )
            )
    can_create = connection.execute(
        text("SELECT has_schema_privilege(:role, :schema, 'CREATE')"), {"role": role, "schema": report.schema}
    ).scalar_one()
    if can_create:
        report.warnings.append(
            _(
                "Die Rolle {role} darf im Schema {schema} Tabellen anlegen (meist über PUBLIC, PostgreSQL vor "
                "15): REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC.",
                role=role,
                schema=report.schema,
            )
        )
