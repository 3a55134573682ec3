"""Reports of barriers (`/barrierefreiheit/rueckmeldung`, BITV NRW feedback mechanism): anyone, without an
account, tells the programme office about a barrier on these pages. The report goes to the office as a letter
through the outbox (EWS_OFFICE_EMAIL) and appends one audit event, both in the caller's transaction.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import ValidationFailed
from ews_cases.i18n.translate import _
from ews_cases.mail.letters import render_letter
from ews_cases.mail.outbox import Email, enqueue_emails
from ews_cases.services.validation import EMAIL_RE
from ews_cases.settings import current_settings
from workflows import Actor

#: The audit trail's actor of a report sent on the public page (the person has no account).
FEEDBACK_ACTOR = Actor.system("accessibility-feedback")
LETTER = "report_barrier"
MAX_DESCRIPTION = 5000
MAX_LINE = 300


def report_barrier(
    session: Session, *, description: str, page: str = "", name: str = "", email: str = ""
) -> str:
    """Queue the report to the programme office; returns the outbox key. Name and address are optional (an
    answer needs the address); the description is required."""
    description, page, name, email = description.strip(), page.strip(), name.strip(), email.strip()
    errors: dict[str, list[str]] = {}
    if not description:
        errors["description"] = [_("Bitte beschreiben Sie die Barriere.")]
    elif len(description) > MAX_DESCRIPTION:
        errors["description"] = [_("Höchstens {n} Zeichen.", n=MAX_DESCRIPTION)]
    for field, value in (("page", page), ("name", name)):
        if len(value) > MAX_LINE:
            errors[field] = [_("Höchstens {n} Zeichen.", n=MAX_LINE)]
    if email and (not EMAIL_RE.match(email) or len(email) > 254):
        errors["email"] = [_("Bitte geben Sie eine gültige E-Mail-Adresse an oder lassen Sie das Feld leer.")]
    if errors:
        raise ValidationFailed(errors)
    office = current_settings().office_email.strip()
    letter = render_letter(LETTER, description=description, page=page, sender=name, email=email)
    key = f"barrier-report:{uuid.uuid4().hex}"
    headers = {"Reply-To": email} if email else {}
    enqueue_emails(session, [Email(key, LETTER, office, letter.subject, letter.body, headers=headers)])
    chain.append(
        session,
        actor=FEEDBACK_ACTOR,
        action="accessibility.barrier_reported",
        data={"name": name, "email": email, "page": page, "description": description},
    )
    return key
