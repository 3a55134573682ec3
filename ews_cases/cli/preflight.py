"""What `ews` checks before it starts anything, and the one line it prints when a check fails.

The database is unreachable or unreadable, its schema is older than the code (or, with SQLite, its file does not
exist yet), or the broker does not answer: each is one German line on stderr and exit code 1 — no traceback, no
gunicorn workers booting and dying, no empty SQLite file left behind.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import click

from ews_cases.db.migrate import (
    DatabaseNotMigrated,
    DatabaseUnreachable,
    DatabaseUnreadable,
    check_database,
)
from ews_cases.i18n.translate import _
from workers.broker import BrokerUnreachable


@cache
def require_database(url: str, *, migrated: bool = True) -> None:
    """The database answers and (with `migrated`) is migrated; checked once per process."""
    check_database(url, migrated=migrated)


StartupRefused = DatabaseUnreachable | DatabaseUnreadable | DatabaseNotMigrated | BrokerUnreachable


def refusal(error: StartupRefused) -> str:
    """The German line for a failed start-up check."""
    if isinstance(error, DatabaseUnreachable):
        return _(
            "Die Datenbank auf {location} ist nicht erreichbar ({reason}); EWS_DATABASE_URL prüfen.",
            location=error.location,
            reason=error.reason,
        )
    if isinstance(error, DatabaseUnreadable):
        return _(
            "Die Datenbank auf {location} lässt sich nicht lesen ({reason}); EWS_DATABASE_URL und die Rechte "
            "der Rolle prüfen.",
            location=error.location,
            reason=error.reason,
        )
    if isinstance(error, DatabaseNotMigrated):
        if error.missing_file:
            return _(
                "Die Datenbank {file} gibt es noch nicht: zuerst `ews db upgrade` ausführen.",
                file=error.missing_file,
            )
        if error.current is None:
            return _("Die Datenbank ist nicht migriert: zuerst `ews db upgrade` ausführen.")
        return _(
            "Die Datenbank ist auf Revision {current}, diese Version braucht {head}: "
            "zuerst `ews db upgrade` ausführen.",
            current=error.current,
            head=error.head,
        )
    return _(
        "Der Broker (Redis) auf {location} ist nicht erreichbar ({reason}); EWS_REDIS_URL prüfen.",
        location=error.location,
        reason=error.reason,
    )


class CheckedGroup(click.Group):
    """The `ews` group: a failed start-up check in any command ends it with its one line (exit code 1)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (DatabaseUnreachable, DatabaseUnreadable, DatabaseNotMigrated, BrokerUnreachable) as error:
            raise click.ClickException(refusal(error)) from None
