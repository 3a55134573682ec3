"""`ews privacy erase|hold|release|export` and `ews retention run`: data protection for the programme office.

The services of `services/privacy.py`, `services/retention.py` and `services/subject_access.py`, one
transaction per command, audited with a system actor naming the command (`system:cli:privacy-erase`).
Refusals are printed in German on stderr: exit 1 when the case does not exist, 2 when refused (e.g. a legal
hold). See docs/privacy.md.
"""

from __future__ import annotations

from pathlib import Path

import click

from ews_cases.cli.commands import _app_context, _database, main, moment_option, refusals_printed
from ews_cases.i18n.translate import _
from workflows import Actor


@main.group()
def privacy() -> None:
    """Personal data: erasure, legal holds, access requests (docs/privacy.md)."""


@privacy.command("erase")
@click.option("--case", "reference", default=None, help="Erase one case's personal data (its reference).")
@click.option("--email", "address", default=None, help="Erase what is held about this email address.")
@click.option("--reason", default=None, help="Why (shown as 'gelöscht am … (reason)'; never name a person).")
def privacy_erase(reference: str | None, address: str | None, reason: str | None) -> None:
    """Erase personal data now (Art. 17 request); the audit trail keeps its commitments and verifies."""
    from ews_cases.services.privacy import erase_case, erase_person, find_case

    if (reference is None) == (address is None):
        raise click.UsageError(_("Bitte genau eine der Optionen --case REF und --email ADRESSE angeben."))
    actor = Actor.system("cli:privacy-erase")
    report: tuple[list[str], list[str]] | None = None
    with refusals_printed(), _app_context(), _database().transaction() as session:
        if reference is not None:
            case = find_case(session, reference)
            erasure = erase_case(session, case, actor, reason=reason)
            if erasure is None:
                click.echo(_("{reference}: bereits gelöscht, nichts zu tun", reference=case.reference))
                return
        else:
            erasure = erase_person(session, address or "", actor, reason=reason)
            if erasure.plan is not None:  # read before the session closes
                report = erasure.plan.erased_lines(), erasure.plan.kept_lines()
    if report is not None:
        _print_report(*report)
    click.echo(
        _(
            "{values} gespeicherte Werte gelöscht, {rows} Datensätze geleert, Fälle: {cases}",
            values=erasure.values,
            rows=erasure.rows,
            cases=", ".join(str(case) for case in erasure.cases) or "–",
        )
    )


def _print_report(erased: list[str], kept: list[str]) -> None:
    """What an erasure request erased and what it kept with the reason, in German (as on the office page)."""
    click.echo(
        _("Gelöscht:") if erased else _("Gelöscht: nichts (zu dieser Adresse ist nichts gespeichert).")
    )
    for line in erased:
        click.echo(f"  - {line}")
    if kept:
        click.echo(_("Aufbewahrt:"))
        for line in kept:
            click.echo(f"  - {line}")


def _hold(reference: str, reason: str, lift: bool) -> None:
    from ews_cases.services.privacy import find_case, lift_legal_hold, set_legal_hold

    change = lift_legal_hold if lift else set_legal_hold
    with refusals_printed(), _database().transaction() as session:
        case = change(session, find_case(session, reference), Actor.system("cli:privacy-hold"), reason)
        if lift:
            click.echo(_("{reference}: Aufbewahrungssperre aufgehoben", reference=case.reference))
        else:
            click.echo(_("{reference}: Aufbewahrungssperre gesetzt", reference=case.reference))


@privacy.command("hold")
@click.option("--case", "reference", required=True)
@click.option("--reason", required=True)
def privacy_hold(reference: str, reason: str) -> None:
    """Put a case under legal hold: no erasure (retention or request) until it is released."""
    _hold(reference, reason, lift=False)


@privacy.command("release")
@click.option("--case", "reference", required=True)
@click.option("--reason", required=True)
def privacy_release(reference: str, reason: str) -> None:
    """Lift a case's legal hold."""
    _hold(reference, reason, lift=True)


@privacy.command("export")
@click.option("--email", "address", required=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def privacy_export(address: str, output: Path) -> None:
    """Answer an access request (Art. 15): a ZIP with everything held about ADDRESS (JSON + German HTML)."""
    from ews_cases.services.subject_access import export_person

    with refusals_printed(), _app_context(), _database().transaction() as session:
        archive = export_person(session, address, Actor.system("cli:privacy-export"))
    output.write_bytes(archive)
    click.echo(_("{path} geschrieben ({size} Bytes)", path=output, size=len(archive)))


@main.group()
def retention() -> None:
    """Retention rules (docs/privacy.md): erase what is due."""


@retention.command("run")
@click.option("--now", "now", default=None, help="Pretend it is this moment (ISO 8601 with offset).")
def retention_run(now: str | None) -> None:
    """Apply every retention rule once; safe to repeat (each subject is erased once, ever)."""
    from ews_cases.services.retention import apply_retention

    with refusals_printed(), _app_context(), _database().transaction() as session:
        report = apply_retention(session, moment_option(now))
    for category, count in report.erased.items():
        click.echo(f"{category}: {count}")
    click.echo(
        _(
            "Aufbewahrungslauf {now}: {total} gelöscht, {held} wegen Aufbewahrungssperre behalten",
            now=report.now.isoformat(),
            total=report.total,
            held=report.held,
        )
    )
