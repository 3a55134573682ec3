"""The `ews` command line (SPEC §7)."""

from __future__ import annotations

import fcntl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ews_cases.audit import chain
from ews_cases.db.engine import Database
from ews_cases.errors import DomainError, NotFound, ValidationFailed
from ews_cases.i18n.translate import _
from ews_cases.settings import get_settings
from workflows import Actor

if TYPE_CHECKING:
    from celery import Celery
    from flask.ctx import AppContext


def _database() -> Database:
    settings = get_settings()
    return Database(
        settings.sqlalchemy_url,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        pool_size=settings.db_pool_size,
    )


@click.group()
@click.version_option(package_name="ews-cases", prog_name="ews", message="%(prog)s %(version)s")
def main() -> None:
    """EWS Cases — Fallverwaltung der Entwicklungswerkstatt für kommunale Engagementstrategien."""
    from pydantic import ValidationError

    from ews_cases.observability.logs import configure_logging

    try:
        settings = get_settings()
    except ValidationError as error:  # e.g. production without EWS_SECRET_KEY: say why, start nothing
        messages = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
        raise click.ClickException(_("Ungültige Einstellungen: {messages}", messages=messages)) from None
    configure_logging(settings)


@main.command()
@click.option("--workers", type=int, default=None, help="gunicorn worker processes (default: 2 × cores + 1)")
@click.option("--threads", type=int, default=4, show_default=True)
def web(workers: int | None, threads: int) -> None:
    """Serve the web pages and the API with gunicorn on EWS_HOST:EWS_PORT."""
    from ews_cases.cli.server import serve

    serve(get_settings(), workers=workers, threads=threads)


def _celery() -> Celery:
    from ews_cases.app import create_app

    app = create_app()
    if "celery" not in app.extensions:
        raise click.ClickException(
            _("Kein Broker eingerichtet: EWS_REDIS_URL setzen (oder `ews run` verwenden).")
        )
    return app.extensions["celery"]


@main.command()
@click.option("--concurrency", type=int, default=2, show_default=True)
def worker(concurrency: int) -> None:
    """Run a Celery worker (any number may run, on any machine)."""
    from ews_cases.cli.server import share_metrics_between_processes

    settings = get_settings()
    share_metrics_between_processes()  # the pool processes count their task durations together
    celery = _celery()
    if settings.worker_metrics_port:
        from ews_cases.observability.metrics import serve_worker_metrics

        serve_worker_metrics(settings.host, settings.worker_metrics_port)
    celery.worker_main(
        ["worker", f"--loglevel={settings.log_level}", f"--concurrency={concurrency}", "--queues=ews"]
    )


@main.command()
def beat() -> None:
    """Run Celery beat, which triggers the periodic scans (run exactly one)."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Beat keeps its schedule file in the data folder; a second beat on the same folder would corrupt it.
    with (settings.data_dir / "celerybeat.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise click.ClickException(
                _(
                    "Mit dem Datenordner {folder} läuft bereits ein `ews beat`. "
                    "Es darf genau ein Beat laufen (docs/operations.md).",
                    folder=settings.data_dir.resolve(),
                )
            ) from None
        _celery().start(["beat", f"--loglevel={settings.log_level}"])


@main.command()
def run() -> None:
    """Web, worker and beat together on the embedded defaults (Ctrl-C stops all cleanly)."""
    from ews_cases.cli.supervisor import run_all

    sys.exit(run_all(get_settings()))


@main.group()
def reminders() -> None:
    """Deadline reminders."""


@reminders.command("run")
@click.option("--now", "now", default=None, help="Pretend it is this moment (ISO 8601 with offset).")
def reminders_run(now: str | None) -> None:
    """Run one reminder scan now and print how many reminders were queued per cohort."""
    from ews_cases.services.reminders import run_reminder_scan

    moment = moment_option(now)
    with _app_context(), _database().transaction() as session:
        report = run_reminder_scan(session, moment)
    click.echo(
        _(
            "Erinnerungslauf {now}: {total} Erinnerungen eingereiht",
            now=report.now.isoformat(),
            total=report.total,
        )
    )
    for number, count in report.queued.items():
        click.echo(
            _(
                "  Durchgang {number}: {count} (Erinnerung {days} Tage vor der Frist)",
                number=number,
                count=count,
                days=report.offsets[number],
            )
        )


def moment_option(now: str | None) -> datetime | None:
    """The moment of a `--now` option (ISO 8601 with a UTC offset), or None for the real now."""
    if not now:
        return None
    try:
        moment = datetime.fromisoformat(now)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise click.UsageError(
            _("--now braucht Datum und Uhrzeit mit UTC-Abweichung, z. B. 2027-06-23T09:00:00+02:00.")
        )
    return moment


@main.group()
def outbox() -> None:
    """Email delivery."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["pending", "sent", "failed", "cancelled"]), default=None)
@click.option("--limit", type=int, default=50, show_default=True)
def outbox_list(status: str | None, limit: int) -> None:
    """Show outbox messages with their status and last error, newest first."""
    from sqlalchemy import select

    from ews_cases.models import OutboxMessage

    with _database().transaction() as session:
        stmt = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(OutboxMessage.status == status)
        for m in session.scalars(stmt):
            error = f"  [{m.last_error}]" if m.last_error else ""
            click.echo(f"{m.id:>7} {m.status:<9} {m.attempts:>2}× {m.kind:<28} {m.recipient}{error}")


def _app_context() -> AppContext:
    """Services render links and texts with the app's settings: give them an app context."""
    from ews_cases.app import create_app

    return create_app().app_context()


@main.command()
def demo() -> None:
    """Load cohorts 1–5 with their real municipalities and an open cohort 6 (invented people)."""
    from ews_cases.demo.loader import load_demo

    if get_settings().env == "production":
        raise click.ClickException(
            _(
                "`ews demo` legt Zugänge mit dem veröffentlichten Passwort „demo“ an, darunter einen "
                "Administrationszugang: mit EWS_ENV=production abgelehnt. Echte Zugänge legt "
                "`ews users create` an."
            )
        )
    database = _database()
    from ews_cases.db.migrate import ensure_migrated

    ensure_migrated(database.engine, database.url)
    with _app_context(), database.transaction() as session:
        summary = load_demo(session)
    click.echo(summary)


@contextmanager
def refusals_printed() -> Iterator[None]:
    """Print a service's refusal on stderr and exit (1: not found, 2: refused); the transaction has rolled back."""
    try:
        yield
    except NotFound as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    except ValidationFailed as exc:
        for field, messages in exc.errors.items():
            click.echo(f"{field}: {'; '.join(messages)}", err=True)
        sys.exit(2)
    except DomainError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


@main.group()
def users() -> None:
    """People and their access."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--role", required=True, type=click.Choice(["applicant", "reviewer", "coordinator", "auditor", "admin"])
)
@click.option("--municipality", "municipality_ags", default=None, help="AGS (applicants: required).")
@click.option("--password", default=None, help="Password for the web login (prompted if '-').")
def users_create(
    email: str, name: str, role: str, municipality_ags: str | None, password: str | None
) -> None:
    """Create a user and print a new API token as the last line."""
    from ews_cases.services.accounts import create_account

    if password == "-":
        password = click.prompt("Passwort", hide_input=True, confirmation_prompt=True)
    actor = Actor.system("cli:users-create")
    with refusals_printed(), _database().transaction() as session:
        user, issued = create_account(
            session,
            actor,
            email=email,
            name=name,
            role=role,
            municipality_ags=municipality_ags,
            password=password,
            token_name="cli",
        )
        token = issued.secret
    click.echo(
        _("Zugang {id} <{email}> Rolle {role}", id=user.id, email=user.email, role=user.role), err=True
    )
    click.echo(token)


@main.group("audit")
def audit_group() -> None:
    """The audit trail."""


@audit_group.command("verify")
@click.argument("export", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def audit_verify(export: Path | None) -> None:
    """Verify every hash chain in the database, or an exported JSON Lines file; exit 1 when broken.

    The database's append-only triggers are checked too: one missing or disabled is a failure (exit 1); the
    connected role's own power over the audit tables (superuser, owner, UPDATE/DELETE/TRUNCATE) a warning.
    """
    from ews_cases.audit.integrity import StorageCheck, check_storage

    storage = StorageCheck()
    if export is not None:
        with export.open("rb") as handle:
            result = chain.verify_jsonl(handle)
        source = str(export)
    else:
        with _database().transaction() as session:
            result = chain.verify_database(session)
            storage = check_storage(session)
        source = "database"
    click.echo(f"{source}: {result.events} events in {result.chains} chains")
    if result.ok:
        click.echo("OK: all chains verify")
    for broken in result.breaks:
        click.echo(
            f"BROKEN chain {broken.chain} at position {broken.position} "
            f"(event {broken.sequence}): {broken.problem}"
        )
    for problem in storage.problems:
        click.echo(f"WARNING: {problem}")
    if not result.ok or storage.triggers:
        sys.exit(1)


@audit_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option(
    "--dialect",
    type=click.Choice(["rfc4180", "excel-de"]),
    default="rfc4180",
    show_default=True,
    help="CSV only: comma-separated for tools, or UTF-8 with BOM and semicolons for Excel in a German locale.",
)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Default: stdout"
)
def audit_export(fmt: str, dialect: str, output: Path | None) -> None:
    """Export every audit event (ordered by chain and position), streamed."""
    from ews_cases.audit.export import write_export

    with _database().transaction() as session:
        if output is None:
            write_export(session, fmt, sys.stdout.buffer, dialect=dialect)
        else:
            with output.open("wb") as handle:
                write_export(session, fmt, handle, dialect=dialect)


CONTACT_COLUMNS = ("ags", "name", "email")
#: Columns a contacts file may have besides: "Frau", "Herr" or empty.
OPTIONAL_CONTACT_COLUMNS = ("salutation",)


def _read_contacts_csv(path: Path) -> list[tuple[int, dict[str, str | None]]]:
    """(line, row) pairs of a CSV file with the columns ags,name,email and optionally salutation (UTF-8,
    comma or semicolon); `ValueError` when the file cannot be read as such."""
    import csv
    import io

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(_("kein UTF-8-Text")) from exc
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        reader.fieldnames = [(name or "").strip().lower() for name in reader.fieldnames or []]
        missing = [column for column in CONTACT_COLUMNS if column not in reader.fieldnames]
        if missing:
            raise ValueError(
                _(
                    "Spalte(n) {columns} fehlen; erwartet wird die Kopfzeile ags,name,email",
                    columns=", ".join(missing),
                )
            )
        columns = CONTACT_COLUMNS + OPTIONAL_CONTACT_COLUMNS
        return [(reader.line_num, {c: row.get(c) for c in columns}) for row in reader]
    except csv.Error as exc:
        raise ValueError(_("Zeile {line}: {problem}", line=reader.line_num, problem=exc)) from exc


@main.group()
def contacts() -> None:
    """Contacts of municipalities who receive the deadline reminders."""


@contacts.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def contacts_import(file: Path) -> None:
    """Add contacts from a CSV file with the columns ags,name,email (and optionally salutation: Frau,
    Herr or empty); prints what was added and skipped.

    Rows with an unknown AGS, an invalid address or an address already known for the municipality are
    skipped with the reason. Exit 2 when the file is not such a CSV file (nothing is imported then).
    """
    from ews_cases.services.contacts import import_contacts

    try:
        rows = _read_contacts_csv(file)
    except ValueError as exc:
        click.echo(f"{file}: {exc}", err=True)
        sys.exit(2)
    with _database().transaction() as session:
        result = import_contacts(session, Actor.system("cli:contacts-import"), rows)
    for skipped in result.skipped:
        click.echo(_("Zeile {line}: übersprungen: {reason}", line=skipped.line, reason=skipped.reason))
    click.echo(
        _(
            "{added} hinzugefügt, {skipped} übersprungen",
            added=len(result.added),
            skipped=len(result.skipped),
        )
    )


# The account administration commands (`users list|deactivate|reactivate`, `tokens`), `db`, `privacy` and
# `audit checkpoint|keygen|checkpoint-mail` add themselves to `main` and the groups above; imported last
# because they import those groups.
from ews_cases.cli import accounts, checkpoints, privacy, schema  # noqa: E402, F401

if __name__ == "__main__":
    main()
