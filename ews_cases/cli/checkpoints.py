"""`ews audit checkpoint`, `ews audit keygen` and `ews audit checkpoint-mail`: the audit log's signed checkpoints
(docs/audit.md §8, docs/operations.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import func, select

from ews_cases.cli.commands import _app_context, _database, audit_group, refusals_printed
from ews_cases.i18n.translate import _
from ews_cases.settings import get_settings
from workflows import Actor


@audit_group.command("checkpoint")
def audit_checkpoint() -> None:
    """Take new events into the Merkle log and sign a checkpoint of it; print the signed note (nothing new:
    say so). Exit 1 without a usable signing key."""
    from ews_cases.audit.signing import SigningKeyError
    from ews_cases.services.checkpoints import latest_checkpoint, write_checkpoint

    try:
        with refusals_printed(), _app_context(), _database().transaction() as session:
            written = write_checkpoint(session, get_settings())
            latest = latest_checkpoint(session) if written is None else None
    except SigningKeyError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    if written is None:
        size = latest.tree_size if latest is not None else 0
        click.echo(
            _("Das Protokoll ist seit dem letzten Prüfpunkt nicht gewachsen ({size} Einträge).", size=size)
        )
        return
    sys.stdout.write(written.checkpoint.note)
    click.echo(
        _(
            "Prüfpunkt {id} gespeichert ({size} Einträge); an {mailed} Abonnentinnen und Abonnenten verschickt.",
            id=written.checkpoint.id,
            size=written.checkpoint.tree_size,
            mailed=written.mailed,
        ),
        err=True,
    )


@audit_group.command("keygen")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="New key file")
@click.option("--name", default=None, help="The key's name (default: the log's origin, EWS_AUDIT_LOG_ORIGIN)")
def audit_keygen(output: Path, name: str | None) -> None:
    """Make a new Ed25519 signing key for the log's checkpoints in a new file (mode 600); print its verifier key.

    Point EWS_AUDIT_SIGNING_KEY at the file; give the verifier key to the auditors."""
    from ews_cases.audit import notes
    from ews_cases.audit.signing import write_key

    try:
        signer = notes.Signer.generate(name or get_settings().log_origin)
    except notes.NoteError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
    try:
        write_key(output, signer)
    except FileExistsError:
        raise click.ClickException(_("{path} gibt es schon; nichts überschrieben.", path=output)) from None
    click.echo(signer.verifier.text)


@audit_group.command("checkpoint-mail")
@click.option("--email", required=True, help="The auditor's account")
@click.option("--on/--off", "subscribed", required=True, help="Mail each new checkpoint, or stop")
def audit_checkpoint_mail(email: str, subscribed: bool) -> None:
    """Mail each new checkpoint to an auditor (or stop); the auditor can also switch it in the account."""
    from ews_cases.errors import NotFound
    from ews_cases.models import User
    from ews_cases.services.checkpoints import set_checkpoint_mail

    with refusals_printed(), _app_context(), _database().transaction() as session:
        user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
        if user is None:
            raise NotFound(_("Kein Zugang mit der Adresse {email}.", email=email))
        changed = set_checkpoint_mail(session, Actor.system("cli:audit-checkpoint-mail"), user, subscribed)
    if subscribed:
        message = _("Prüfpunkte per E-Mail für {email}: an", email=email)
    else:
        message = _("Prüfpunkte per E-Mail für {email}: aus", email=email)
    click.echo(message + ("" if changed else " " + _("(unverändert)")))
