"""Every letter kind, rendered through the real services, compared with its recorded text.

The recording (`letter_texts.txt`) was made before the letters moved from Python code into templates; a
change of wording shows up here as a diff and is made on purpose, by regenerating the file with
`EWS_RECORD_LETTERS=1`.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from ews_cases.models import Case, Certificate, CohortSession, Contact, OutboxMessage, User
from ews_cases.services import cohorts
from ews_cases.services.certificates import replace_certificate
from ews_cases.services.contacts import add_contact
from ews_cases.services.reminders import run_reminder_scan
from ews_cases.services.session_reminders import run_session_reminders
from testkit.factories import SYSTEM, complete_content
from tests.mail.test_letters import KINDS
from workflows import State

RECORDING = Path(__file__).with_name("letter_texts.txt")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOWNS = ("05962004", "05962008", "05962012", "05962016", "05962020", "05962024", "05962028")


def _arrange(session, factory) -> None:
    factory.now = NOW
    cohort = factory.cohort(
        number=907,
        title="7. Entwicklungswerkstatt",
        applications_open_at=NOW - timedelta(days=30),
        application_deadline=date(2026, 3, 9),
        starts_on=date(2026, 3, 16),
        ends_on=date(2027, 3, 31),
    )
    cohorts.add_session(
        session,
        SYSTEM,
        cohort,
        kind="workshop",
        title="Auftaktwerkstatt „Engagement“",
        starts_at=datetime(2026, 3, 23, 9, 0, tzinfo=UTC),
        ends_at=datetime(2026, 3, 23, 15, 0, tzinfo=UTC),
        location="Köln",
    )

    def case(ags: str, tag: str, state: State) -> Case:
        return factory.case(cohort, ags, content=complete_content(cohort.team_size, tag), state=state)

    certified = case(TOWNS[0], "a", State.PROJECT_DONE)
    dropped = case(TOWNS[1], "b", State.ATTENDING)
    factory.fire(dropped, "drop_out")
    revised = case(TOWNS[2], "c", State.SUBMITTED)
    factory.fire(revised, "return_for_revision")
    factory.fire(revised, "withdraw")
    refused = case(TOWNS[3], "d", State.WAITLISTED)
    freed = case(TOWNS[4], "e", State.ADMITTED)
    factory.fire(freed, "withdraw")  # the free place letter names the waitlisted case
    factory.fire(refused, "reject")
    case(TOWNS[5], "f", State.ATTENDING)
    factory.fire(certified, "certify")
    corrected = session.scalars(
        select(Certificate).where(Certificate.case_id == certified.id).order_by(Certificate.id)
    ).first()
    replace_certificate(session, corrected, factory.coordinator(), "Name falsch geschrieben.")
    case(TOWNS[6], "g", State.DRAFT)
    add_contact(session, SYSTEM, TOWNS[6], "Dana Entwurf", "dana@kommune.example")
    add_contact(session, SYSTEM, "05962032", "Olaf Offen", "olaf@kommune.example")
    session.commit()
    run_reminder_scan(session, datetime(2026, 3, 2, 8, 30, tzinfo=UTC))  # 7 days before the deadline
    run_session_reminders(session, datetime(2026, 3, 16, 8, 30, tzinfo=UTC))  # 7 days before the workshop
    session.commit()


def _placeholders(session) -> dict[str, str]:
    """Values that differ between runs (ids, tokens, codes) and their stable stand-ins."""
    found: dict[str, str] = {}
    for n, (case_id, reference) in enumerate(
        session.execute(select(Case.id, Case.reference).order_by(Case.id))
    ):
        found[reference] = f"<case {n} reference>"
        found[f"/faelle/{case_id}"] = f"/faelle/<case {n} id>"
    for n, (serial, code) in enumerate(
        session.execute(select(Certificate.serial, Certificate.verification_code).order_by(Certificate.id))
    ):
        found[serial] = f"<certificate {n} serial>"
        found[code] = f"<certificate {n} code>"
    for n, token in enumerate(session.scalars(select(Contact.unsubscribe_token).order_by(Contact.id))):
        found[token] = f"<contact {n} token>"
    for n, token in enumerate(session.scalars(select(User.unsubscribe_token).order_by(User.id))):
        found[token] = f"<user {n} token>"
    for n, session_id in enumerate(session.scalars(select(CohortSession.id).order_by(CohortSession.id))):
        found[f"ews-termin-{session_id}.ics"] = f"ews-termin-<session {n}>.ics"
    return found


def _rendered(session) -> str:
    stand_ins = _placeholders(session)
    pattern = re.compile("|".join(re.escape(v) for v in sorted(stand_ins, key=len, reverse=True)))
    letters = []
    for message in session.scalars(
        select(OutboxMessage).order_by(OutboxMessage.kind, OutboxMessage.recipient)
    ):
        recipient = re.sub(r"^(coordinator|reviewer|applicant)\d+@", r"\1<n>@", message.recipient)
        attachments = ", ".join(a["filename"] for a in message.attachments)
        headers = ", ".join(f"{k}: {v}" for k, v in sorted(message.headers.items()))
        text = (
            f"=== {message.kind} → {recipient}\nSubject: {message.subject}\nAttachments: {attachments}\n"
            f"Headers: {headers}\n\n{message.body}"
        )
        letters.append(pattern.sub(lambda m: stand_ins[m.group(0)], text))
    return "\n".join(sorted(letters))


def test_every_letter_kind_renders_as_recorded(session, factory):
    _arrange(session, factory)
    text = _rendered(session)
    kinds = set(re.findall(r"^=== (\w+) ", text, flags=re.MULTILINE))
    assert kinds == KINDS - {"password_reset"}  # a reset letter is asked for, not caused by the journey
    if os.environ.get("EWS_RECORD_LETTERS"):
        RECORDING.write_text(text, encoding="utf-8")
    assert text == RECORDING.read_text(encoding="utf-8")
