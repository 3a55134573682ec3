"""Access requests (Art. 15 DSGVO): everything held about one email address, as a ZIP of JSON and German HTML.

Only what is about the person: their recorded values (not the other team members' in the same events), the
cases they appear in (reference, municipality, cohort, state), the events that recorded one of their values
(action and time, without the other data), the emails sent to the address and their certificates.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from markupsafe import escape
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ews_cases.audit import chain, personal
from ews_cases.audit.chain import format_time
from ews_cases.errors import ValidationFailed
from ews_cases.i18n.translate import _
from ews_cases.models import (
    AuditEvent,
    Case,
    Certificate,
    Contact,
    OutboxMessage,
    PersonalValue,
    TeamMember,
    User,
)
from workflows import Actor


def person_data(session: Session, address: str) -> dict[str, Any]:
    """What is held about `address` (lower-cased), as JSON-ready data."""
    members = list(session.scalars(select(TeamMember).where(func.lower(TeamMember.email) == address)))
    contact_cases = list(session.scalars(select(Case).where(func.lower(Case.contact_email) == address)))
    contacts = list(session.scalars(select(Contact).where(func.lower(Contact.email) == address)))
    users = list(session.scalars(select(User).where(func.lower(User.email) == address)))
    v = PersonalValue.__table__.c
    subjects = [
        (v.subject_kind == "team_member") & v.subject_id.in_([m.id for m in members] or [-1]),
        (v.subject_kind == "case_contact") & v.subject_id.in_([c.id for c in contact_cases] or [-1]),
        (v.subject_kind == "contact") & v.subject_id.in_([c.id for c in contacts] or [-1]),
        (v.subject_kind == "user") & v.subject_id.in_([u.id for u in users] or [-1]),
        func.lower(v.value) == json.dumps(address, ensure_ascii=False),
    ]
    values = list(session.scalars(select(PersonalValue).where(or_(*subjects), v.value.is_not(None))))
    ids = {pv.id for pv in values}
    case_ids = {m.case_id for m in members} | {c.id for c in contact_cases} | {pv.case_id for pv in values}
    cases = list(session.scalars(select(Case).where(Case.id.in_(case_ids - {None})).order_by(Case.id)))
    events = []
    if ids:
        stmt = select(AuditEvent).where(
            AuditEvent.case_id.in_(case_ids - {None}) | AuditEvent.case_id.is_(None)
        )
        for event in session.scalars(stmt.order_by(AuditEvent.id)):
            mine = [c[personal.PD_KEY] for c in personal.commitments(event.data) if c[personal.PD_KEY] in ids]
            if mine:
                events.append(
                    {
                        "sequence": event.id,
                        "chain": event.chain,
                        "action": event.action,
                        "occurred_at": format_time(event.occurred_at),
                        "values": mine,
                    }
                )
    emails = session.scalars(
        select(OutboxMessage).where(func.lower(OutboxMessage.recipient) == address).order_by(OutboxMessage.id)
    )
    certificates = session.scalars(
        select(Certificate).where(Certificate.member_id.in_([m.id for m in members] or [-1]))
    )
    return {
        "email": address,
        "values": [
            {
                "id": pv.id,
                "field": pv.field,
                "subject": pv.subject_kind,
                "case": pv.case_id,
                "value": json.loads(pv.value or "null"),
                "recorded_at": format_time(pv.created_at),
            }
            for pv in values
        ],
        "cases": [
            {
                "reference": c.reference,
                "municipality": c.municipality.name,
                "cohort": c.cohort.number,
                "state": c.state,
                "roles": (["team"] if any(m.case_id == c.id for m in members) else [])
                + (["contact"] if c in contact_cases else []),
            }
            for c in cases
        ],
        "events": events,
        "emails": [
            {
                "id": m.id,
                "kind": m.kind,
                "subject": m.subject,
                "body": m.body,
                "status": m.status,
                "sent_at": format_time(m.sent_at) if m.sent_at else None,
            }
            for m in emails
        ],
        "certificates": [
            {
                "serial": c.serial,
                "holder": c.holder_name,
                "issued_at": format_time(c.issued_at),
                "revoked_at": format_time(c.revoked_at) if c.revoked_at else None,
            }
            for c in certificates
        ],
    }


def _html(data: dict[str, Any]) -> str:
    rows = "".join(
        f"<li>{escape(c['reference'])}: {escape(c['municipality'])}, Durchgang {c['cohort']}</li>"
        for c in data["cases"]
    )
    values = "".join(f"<li>{escape(v['field'])}: {escape(str(v['value']))}</li>" for v in data["values"])
    mails = "".join(f"<li>{escape(m['subject'])} ({escape(m['status'])})</li>" for m in data["emails"])
    certs = "".join(f"<li>{escape(c['serial'])}: {escape(c['holder'])}</li>" for c in data["certificates"])
    title = escape(_("Auskunft nach Art. 15 DSGVO für {email}", email=data["email"]))
    return (
        f'<!doctype html><html lang="de"><meta charset="utf-8"><title>{title}</title><h1>{title}</h1>'
        f"<h2>{escape(_('Bewerbungen'))}</h2><ul>{rows}</ul>"
        f"<h2>{escape(_('Gespeicherte Angaben'))}</h2><ul>{values}</ul>"
        f"<h2>{escape(_('E-Mails an diese Adresse'))}</h2><ul>{mails}</ul>"
        f"<h2>{escape(_('Zertifikate'))}</h2><ul>{certs}</ul>"
        f"<p>{escape(_('Die vollständigen Daten stehen in auskunft.json.'))}</p></html>"
    )


def export_person(session: Session, address: str, actor: Actor) -> bytes:
    """The ZIP answering an access request for `address`; audited (`privacy.exported`)."""
    address = (address or "").strip().lower()
    if "@" not in address:
        raise ValidationFailed({"email": [_("Bitte geben Sie eine gültige E-Mail-Adresse an.")]})
    data = person_data(session, address)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("auskunft.json", json.dumps(data, ensure_ascii=False, indent=2))
        archive.writestr("auskunft.html", _html(data))
    chain.append(
        session,
        actor=actor,
        action="privacy.exported",
        data={"email": address, "cases": len(data["cases"]), "values": len(data["values"])},
    )
    return buffer.getvalue()
