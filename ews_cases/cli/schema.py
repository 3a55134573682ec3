"""`ews db upgrade` and `ews db roles`: the schema and who may do what in it (docs/operations.md)."""

from __future__ import annotations

import click

from ews_cases.cli.commands import _database, main
from ews_cases.i18n.translate import _
from ews_cases.settings import get_settings


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Migrate the database to the latest schema (creates it when empty)."""
    from ews_cases.db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.sqlalchemy_url, revision)
    click.echo(_("Datenbank auf Stand {revision}", revision=revision))


@db.command("roles")
@click.option("--app-role", default="ews_app", show_default=True, help="The application's PostgreSQL role.")
def db_roles(app_role: str) -> None:
    """Create or update the application's PostgreSQL role with least privileges (run as the schema's owner
    after every `ews db upgrade`); its password comes from EWS_APP_DB_PASSWORD and is never printed."""
    from psycopg import Error as PsycopgError
    from sqlalchemy.exc import DBAPIError

    from ews_cases.db.roles import RoleRefused, grant_application_role

    password = get_settings().app_db_password or None
    database = _database()
    try:
        with database.engine.begin() as connection:
            report = grant_application_role(connection, app_role, password)
    except RoleRefused as exc:
        raise click.ClickException(str(exc)) from None
    except DBAPIError as exc:  # the server's reason only: never the statement
        raise click.ClickException(_server_message(exc.orig)) from None
    except PsycopgError as exc:  # the password statement runs on psycopg's own cursor
        raise click.ClickException(_server_message(exc)) from None
    finally:
        database.engine.dispose()
    if report.created:
        click.echo(_("Rolle {role} angelegt (Passwort gesetzt)", role=report.role))
    elif report.password_set:
        click.echo(_("Rolle {role} aktualisiert (Passwort gesetzt)", role=report.role))
    else:
        click.echo(_("Rolle {role} aktualisiert (Passwort unverändert)", role=report.role))
    for table, privileges in report.tables.items():
        click.echo(f"  {report.schema}.{table}: {', '.join(privileges)}")
    click.echo(
        _(
            "{count} Tabellen; nur Lesen und Anfügen: {tables}",
            count=len(report.tables),
            tables=", ".join(report.append_only) or "–",
        )
    )
    for warning in report.warnings:
        click.echo(_("WARNUNG: {warning}", warning=warning), err=True)


def _server_message(error: BaseException | None) -> str:
    diag = getattr(error, "diag", None)
    return getattr(diag, "message_primary", None) or type(error).__name__
