"""`ews users invite` (issue 13): invites with the same service as the pages and the API — one invitation,
one email, one audit event with the command as actor; an address with an account is refused (exit 2,
German reason on stderr) and nothing is written."""

from __future__ import annotations

from sqlalchemy import func, select

from ews_cases.models import AuditEvent, Invitation, OutboxMessage
from testkit.factories import FINNENTROP
from tests.test_cli_users import ews


def test_users_invite_sends_one_invitation_and_refuses_an_existing_account(
    database_url, db, session, factory
):
    result = ews(
        database_url,
        "users", "invite", "--email", "Neu@Finnentrop.example", "--name", "Nina Neu",
        "--role", "applicant", "--municipality", FINNENTROP,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("eingeladen: Einladung ")
    assert "<neu@finnentrop.example> Rolle applicant 05966012" in result.stdout
    session.commit()
    [invitation] = session.scalars(select(Invitation)).all()
    assert (invitation.municipality_ags, invitation.created_by) == (FINNENTROP, "system:cli:users-invite")
    [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "invitation.sent")).all()
    assert event.actor == "system:cli:users-invite"
    [mail] = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "invitation")).all()
    assert "/zugang/" in mail.body

    person = factory.user("reviewer")
    session.commit()
    refused = ews(
        database_url, "users", "invite", "--email", person.email, "--name", "X", "--role", "reviewer"
    )
    assert refused.returncode == 2
    assert "bereits einen Zugang" in refused.stderr
    missing = ews(
        database_url, "users", "invite", "--email", "a@example.org", "--name", "A", "--role", "applicant"
    )
    assert missing.returncode == 2
    assert "municipality: Antragstellende müssen einer Kommune zugeordnet sein." in missing.stderr
    session.commit()
    assert session.scalar(select(func.count()).select_from(Invitation)) == 1
    assert (
        session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "invitation.sent")
        )
        == 1
    )
