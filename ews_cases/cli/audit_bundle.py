"""`ews audit bundle`: the auditor's bundle as a .zip (docs/audit.md §10)."""

from __future__ import annotations

from pathlib import Path

import click

from ews_cases.cli.commands import _database, audit_group
from ews_cases.i18n.translate import _
from ews_cases.settings import get_settings


@audit_group.command("bundle")
@click.option(
    "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The .zip to write"
)
def audit_bundle(output: Path) -> None:
    """Write the auditor's bundle: the JSON Lines export, the log's leaves, every checkpoint, the public keys
    and a standalone verifier (verify_bundle.py, standard library only) with its README."""
    from ews_cases.audit.bundle import write_bundle

    with _database().transaction() as session, output.open("wb") as handle:
        write_bundle(session, get_settings(), handle)
    click.echo(_("Prüfpaket geschrieben: {path}", path=output), err=True)
