"""`ews audit cosign` and `ews audit timestamp`: what others attest about checkpoints (docs/audit.md §8).

`ews audit cosign --generate-key FILE --name NAME` makes an auditor's Ed25519 cosigning key (C2SP
tlog-cosignature, type 0x04) and prints its verifier key; `ews audit cosign --checkpoint ID|latest --key FILE`
cosigns a stored checkpoint with it (registering the key if needed), stores the verified cosignature and
prints the line (`--output FILE`: the cosigned note). `ews audit timestamp` asks the TSA now for every
checkpoint still without an RFC 3161 token (what the beat task does every few minutes).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ews_cases.audit import notes
from ews_cases.cli.commands import _app_context, _database, audit_group, refusals_printed
from ews_cases.i18n.translate import _
from ews_cases.settings import get_settings
from workflows import Actor


@audit_group.command("cosign")
@click.option("--checkpoint", "reference", default=None, help="The checkpoint to cosign: its id or 'latest'.")
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The cosigning key file (PRIVATE+KEY+<name>+…, type 0x04).",
)
@click.option(
    "--name", default=None, help="The key's name (with --generate-key; else it must match the key)."
)
@click.option(
    "--generate-key",
    "generate",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a new cosigning key to this file (mode 0600) and print its verifier key.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the cosigned note here.",
)
def audit_cosign(
    reference: str | None, key_file: Path | None, name: str | None, generate: Path | None, output: Path | None
) -> None:
    """Cosign a checkpoint with an auditor's own Ed25519 key (C2SP tlog-cosignature), or make such a key."""
    if generate is not None:
        _generate_key(generate, name)
        return
    if reference is None or key_file is None:
        raise click.UsageError(
            _("Bitte --checkpoint ID|latest und --key DATEI angeben (oder --generate-key DATEI).")
        )
    try:
        signer = notes.parse_signer_key(key_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, notes.NoteError) as exc:
        raise click.ClickException(_("Schlüsseldatei nicht lesbar: {problem}", problem=str(exc))) from None
    if name is not None and name != signer.name:
        raise click.ClickException(_("Der Schlüssel heißt {key}, nicht {name}.", key=signer.name, name=name))
    from ews_cases.services.cosignatures import cosign_with_key, cosigned_note, get_checkpoint

    with refusals_printed(), _app_context(), _database().transaction() as session:
        checkpoint = get_checkpoint(session, reference)
        added = cosign_with_key(session, Actor.system("cli:audit-cosign"), checkpoint, signer)
        line, size, checkpoint_id = added.cosignature.line, checkpoint.tree_size, checkpoint.id
        note = cosigned_note(session, checkpoint)
    if output is not None:
        output.write_text(note, encoding="utf-8")
    if not added.created:
        click.echo(_("Dieser Schlüssel hatte den Prüfpunkt schon gegengezeichnet:"), err=True)
    click.echo(line)
    click.echo(
        _(
            "Prüfpunkt {id} (Baumgröße {size}) gegengezeichnet von {name}",
            id=checkpoint_id,
            size=size,
            name=signer.name,
        ),
        err=True,
    )


def _generate_key(path: Path, name: str | None) -> None:
    if not name:
        raise click.UsageError(
            _("Bitte mit --name den Namen des Schlüssels angeben, z. B. lrh.example.org/ews.")
        )
    if not notes.is_valid_key_name(name):
        raise click.UsageError(_("Ungültiger Schlüsselname (keine Leerzeichen, kein '+')."))
    signer = notes.Signer.generate(name, notes.COSIGNATURE_V1)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(_("{path} gibt es schon; nichts überschrieben.", path=str(path))) from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(signer.private_text + "\n")
    click.echo(signer.verifier.text)
    click.echo(_("Privater Schlüssel in {path}; der Prüfschlüssel steht oben.", path=str(path)), err=True)


@audit_group.command("timestamp")
def audit_timestamp() -> None:
    """Ask the TSA (EWS_TSA_URL) now for every checkpoint without an RFC 3161 token; exit 1 if it fails."""
    from ews_cases.services.timestamps import timestamp_pending

    settings = get_settings()
    if not settings.tsa_url:
        raise click.ClickException(_("EWS_TSA_URL ist nicht gesetzt."))
    with _app_context():
        run = timestamp_pending(_database(), settings)
    click.echo(
        _(
            "{stored} Prüfpunkte mit Zeitstempel versehen, {pending} ohne",
            stored=len(run.stored),
            pending=run.pending,
        )
    )
    if run.error:
        click.echo(run.error, err=True)
        sys.exit(1)
