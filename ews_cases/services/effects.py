"""The emails each workflow effect causes (texts in templates/mail/); written to the outbox, never sent from here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.db.after_commit import after_commit
from ews_cases.links import public_link, verification_link
from ews_cases.mail.calendar import ics_attachment
from ews_cases.mail.letters import Letter, render_letter
from ews_cases.mail.outbox import Email, enqueue_emails
from ews_cases.models import Case, Certificate, User
from ews_cases.settings import current_settings
from workflows import Effect, State, TransitionSpec


@dataclass(frozen=True, slots=True)
class QueuedEmail:
    """An email just written to the outbox, as the transition's audit event records it."""

    id: int
    recipient: str
    kind: str


def _queue(
    session: Session,
    *,
    dedup_key: str,
    kind: str,
    recipient: str,
    subject: str,
    body: str,
    case: Case,
    attachments: Sequence[dict[str, Any]] = (),
) -> QueuedEmail | None:
    """Queue one email (None if its key was queued before); the row is not read back, to save a query."""
    email = Email(dedup_key, kind, recipient, subject, body, case.id, tuple(attachments))
    ids = enqueue_emails(session, [email])
    return QueuedEmail(ids[0], recipient, kind) if ids else None


def applicant_recipients(case: Case, *, with_team: bool = True) -> list[str]:
    """Contact person and (optionally) team members, each address once, in a stable order."""
    addresses = [case.contact_email] + ([m.email for m in case.team] if with_team else [])
    seen: dict[str, None] = {}
    for address in addresses:
        if address and address.strip():
            seen.setdefault(address.strip().lower(), None)
    return list(seen)


def coordinator_recipients(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(User.email).where(User.role == "coordinator", User.active.is_(True)).order_by(User.id)
        )
    )


def _case_letter(effect: Effect, case: Case, reason: str | None) -> Letter:
    """The letter `effect` writes about `case` (templates/mail/<effect>.txt)."""
    return render_letter(
        effect.value,
        ref=case.reference,
        town=case.municipality.name,
        cohort=case.cohort.title,
        reason=reason or "",
        case_link=public_link(f"/faelle/{case.id}"),
    )


#: The effects that write their letter to the applicants (contact person, and team unless said otherwise).
_APPLICANT_LETTERS = (
    Effect.CONFIRM_SUBMISSION,
    Effect.EXPLAIN_REVISION,
    Effect.ANNOUNCE_ADMISSION,
    Effect.ANNOUNCE_WAITLIST,
    Effect.EXPLAIN_REJECTION,
    Effect.CONFIRM_WITHDRAWAL,
    Effect.WELCOME_WITH_CALENDAR,
    Effect.EXPLAIN_DROP_OUT,
)


def queue_effects(
    session: Session, case: Case, spec: TransitionSpec, from_state: str, reason: str | None
) -> list[QueuedEmail]:
    """Write the outbox messages for `spec`'s effects; keys make a repeated call a no-op.

    In the programme's language (`EWS_DEFAULT_LOCALE`), not in the language of the page or API client that
    caused them: they go to the municipalities and the programme office.
    """
    with force_locale(current_settings().default_locale):
        return _queue_effects(session, case, spec, from_state, reason)


def _queue_effects(
    session: Session, case: Case, spec: TransitionSpec, from_state: str, reason: str | None
) -> list[QueuedEmail]:
    messages: list[QueuedEmail | None] = []
    stamp = f"case:{case.id}:v{case.version}:{spec.name}"
    for effect in spec.effects:
        if effect in _APPLICANT_LETTERS:
            letter = _case_letter(effect, case, reason)
            with_team = effect not in (Effect.ANNOUNCE_WAITLIST, Effect.CONFIRM_WITHDRAWAL)
            messages += _queue_all(
                session, case, stamp, effect, applicant_recipients(case, with_team=with_team), letter
            )
        elif effect is Effect.NOTIFY_COORDINATORS_REVIEWED or (
            effect is Effect.ANNOUNCE_FREE_PLACE and from_state == State.ADMITTED
        ):
            messages += _queue_all(
                session,
                case,
                stamp,
                effect,
                coordinator_recipients(session),
                _case_letter(effect, case, reason),
            )
        elif effect is Effect.SEND_CERTIFICATES:
            messages += _certificate_emails(session, case, stamp)
        elif effect is Effect.QUEUE_CERTIFICATES:
            after_commit(session, "certificates", case_id=case.id)
    return [m for m in messages if m is not None]


def _certificate_emails(session: Session, case: Case, stamp: str) -> list[QueuedEmail | None]:
    """One email per certificate holder, with their own PDF attached."""
    certificates = session.scalars(
        select(Certificate)
        .where(Certificate.case_id == case.id, Certificate.revoked_at.is_(None))
        .order_by(Certificate.id)
    ).all()
    members = {m.id: m for m in case.team}
    messages = []
    for certificate in certificates:
        member = members.get(certificate.member_id)
        if member is None or not member.email or not certificate.pdf_path:
            continue
        letter = render_letter(
            Effect.SEND_CERTIFICATES.value,
            cohort=case.cohort.title,
            serial=certificate.serial,
            url=verification_link(certificate.verification_code),
        )
        messages.append(
            _queue(
                session,
                dedup_key=f"{stamp}:certificate:{certificate.serial}",
                kind=Effect.SEND_CERTIFICATES.value,
                recipient=member.email,
                case=case,
                subject=letter.subject,
                body=letter.body,
                attachments=[
                    {
                        "filename": f"Zertifikat-{certificate.serial}.pdf",
                        "content_type": "application/pdf",
                        "path": certificate.pdf_path,
                    }
                ],
            )
        )
    return messages


def _queue_all(
    session: Session,
    case: Case,
    stamp: str,
    effect: Effect,
    recipients: Iterable[str],
    letter: Letter,
) -> list[QueuedEmail | None]:
    attachments = []
    if effect is Effect.WELCOME_WITH_CALENDAR:
        attachments = [
            ics_attachment(case.cohort.sessions, case.cohort.title, f"ews{case.cohort.number}-termine.ics")
        ]
    return [
        _queue(
            session,
            dedup_key=f"{stamp}:{effect.value}:{address}",
            kind=effect.value,
            recipient=address,
            subject=letter.subject,
            body=letter.body,
            case=case,
            attachments=attachments,
        )
        for address in recipients
    ]
