"""The emails each workflow effect causes, in German; written to the outbox, never sent from here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.db.after_commit import after_commit
from ews_cases.i18n.translate import _
from ews_cases.links import public_link, verification_link
from ews_cases.mail.calendar import ics_attachment
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


def _greeting() -> str:
    return _("Guten Tag,")


def _signature() -> str:
    return _("Mit freundlichen Grüßen\nIhr Team der Entwicklungswerkstatt für kommunale Engagementstrategien")


def _body(*paragraphs: str) -> str:
    return "\n\n".join([_greeting(), *paragraphs, _signature()]) + "\n"


def _case_link(case: Case) -> str:
    return public_link(f"/faelle/{case.id}")


def _texts(effect: Effect, case: Case, reason: str | None) -> tuple[str, str] | None:
    """Subject and body for an effect that emails the applicants; None for effects that do not."""
    ref, town, cohort = case.reference, case.municipality.name, case.cohort.title
    reason_text = reason or ""
    # Only the one effect's texts are rendered (each is several translated strings); a table of functions.
    texts: dict[Effect, Callable[[], tuple[str, str]]] = {
        Effect.CONFIRM_SUBMISSION: lambda: (
            _("Bewerbung {ref} eingegangen", ref=ref),
            _body(
                _(
                    "die Bewerbung der Kommune {town} für die {cohort} ist unter dem Aktenzeichen {ref} "
                    "eingegangen. Wir melden uns, sobald die Begutachtung abgeschlossen ist.",
                    town=town,
                    cohort=cohort,
                    ref=ref,
                ),
                _case_link(case),
            ),
        ),
        Effect.EXPLAIN_REVISION: lambda: (
            _("Bewerbung {ref}: Bitte überarbeiten", ref=ref),
            _body(
                _("wir haben die Bewerbung {ref} zur Überarbeitung zurückgegeben. Begründung:", ref=ref),
                reason_text,
                _("Bitte reichen Sie die Bewerbung vor Ablauf der Frist erneut ein."),
                _case_link(case),
            ),
        ),
        Effect.ANNOUNCE_ADMISSION: lambda: (
            _("Zulassung zur {cohort}", cohort=cohort),
            _body(
                _(
                    "wir freuen uns, Ihnen mitzuteilen, dass die Kommune {town} zur {cohort} zugelassen ist. "
                    "Die Einladung zur Auftaktveranstaltung folgt.",
                    town=town,
                    cohort=cohort,
                )
            ),
        ),
        Effect.ANNOUNCE_WAITLIST: lambda: (
            _("Bewerbung {ref}: Warteliste", ref=ref),
            _body(
                _(
                    "die Bewerbung {ref} steht auf der Warteliste der {cohort}. Wird ein Platz frei, "
                    "informieren wir Sie umgehend.",
                    ref=ref,
                    cohort=cohort,
                )
            ),
        ),
        Effect.EXPLAIN_REJECTION: lambda: (
            _("Bewerbung {ref}: Entscheidung", ref=ref),
            _body(
                _(
                    "leider können wir die Bewerbung {ref} für die {cohort} nicht berücksichtigen. "
                    "Begründung:",
                    ref=ref,
                    cohort=cohort,
                ),
                reason_text,
            ),
        ),
        Effect.CONFIRM_WITHDRAWAL: lambda: (
            _("Bewerbung {ref} zurückgezogen", ref=ref),
            _body(_("die Bewerbung {ref} wurde zurückgezogen.", ref=ref)),
        ),
        Effect.WELCOME_WITH_CALENDAR: lambda: (
            _("Willkommen in der {cohort}", cohort=cohort),
            _body(
                _("die {cohort} beginnt. Alle Termine finden Sie im Anhang als Kalenderdatei.", cohort=cohort)
            ),
        ),
        Effect.EXPLAIN_DROP_OUT: lambda: (
            _("Teilnahme an der {cohort} beendet", cohort=cohort),
            _body(
                _(
                    "die Teilnahme der Kommune {town} an der {cohort} ist beendet. Begründung:",
                    town=town,
                    cohort=cohort,
                ),
                reason_text,
            ),
        ),
    }
    render = texts.get(effect)
    return render() if render is not None else None


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
        texts = _texts(effect, case, reason)
        if texts is not None:
            with_team = effect not in (Effect.ANNOUNCE_WAITLIST, Effect.CONFIRM_WITHDRAWAL)
            messages += _queue_all(
                session, case, stamp, effect, applicant_recipients(case, with_team=with_team), *texts
            )
        elif effect is Effect.NOTIFY_COORDINATORS_REVIEWED:
            messages += _queue_all(
                session,
                case,
                stamp,
                effect,
                coordinator_recipients(session),
                _("Bewerbung {ref} ist begutachtet", ref=case.reference),
                _body(
                    _(
                        "für die Bewerbung {ref} ({town}) liegen alle Gutachten vor. Sie kann jetzt "
                        "entschieden werden.",
                        ref=case.reference,
                        town=case.municipality.name,
                    ),
                    _case_link(case),
                ),
            )
        elif effect is Effect.ANNOUNCE_FREE_PLACE and from_state == State.ADMITTED:
            messages += _queue_all(
                session,
                case,
                stamp,
                effect,
                coordinator_recipients(session),
                _("Platz frei in der {cohort}", cohort=case.cohort.title),
                _body(
                    _(
                        "die Kommune {town} hat ihre Bewerbung {ref} nach der Zulassung zurückgezogen. "
                        "Ein Platz ist frei geworden.",
                        town=case.municipality.name,
                        ref=case.reference,
                    )
                ),
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
        messages.append(
            _queue(
                session,
                dedup_key=f"{stamp}:certificate:{certificate.serial}",
                kind=Effect.SEND_CERTIFICATES.value,
                recipient=member.email,
                case=case,
                subject=_("Ihr Zertifikat der {cohort}", cohort=case.cohort.title),
                body=_body(
                    _(
                        "herzlichen Glückwunsch zum erfolgreichen Abschluss der {cohort}! Im Anhang finden Sie "
                        "Ihr Zertifikat Nr. {serial}. Seine Echtheit lässt sich jederzeit hier prüfen: {url}",
                        cohort=case.cohort.title,
                        serial=certificate.serial,
                        url=verification_link(certificate.verification_code),
                    )
                ),
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
    subject: str,
    body: str,
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
            subject=subject,
            body=body,
            case=case,
            attachments=attachments,
        )
        for address in recipients
    ]
