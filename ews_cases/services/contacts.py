"""Municipal contacts who receive the deadline reminders: add, import from CSV rows, opt out (SPEC §3, §5)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ews_cases.i18n.translate import N_, _
from ews_cases.models import Contact, Municipality, utcnow
from ews_cases.services.cases import SALUTATIONS
from ews_cases.services.validation import EMAIL_RE
from workflows import Actor, Role

#: Spreadsheets drop the leading zero of NRW keys ("5966012"); seven digits starting with 5 get it back.
_SHORT_AGS = re.compile(r"^5\d{6}$")


def _require_coordinator(actor: Actor) -> None:
    if actor.role not in (Role.COORDINATOR, Role.SYSTEM):
        raise Forbidden(N_("Nur die Programmleitung verwaltet Ansprechpersonen."))


def get_municipality(session: Session, ags: str) -> Municipality:
    municipality = session.get(Municipality, ags)
    if municipality is None:
        raise NotFound(N_("Zum Schlüssel {ags} ist keine Kommune in NRW bekannt."), ags=ags)
    return municipality


def normalise_ags(ags: str) -> str:
    ags = ags.strip()
    return "0" + ags if _SHORT_AGS.match(ags) else ags


def _checked(name: str, email: str, salutation: str = "") -> tuple[str, str, str]:
    """Stripped name, lower-cased email and the salutation, or `ValidationFailed` naming the bad fields."""
    name, email, salutation = name.strip(), email.strip().lower(), salutation.strip()
    errors: dict[str, list[str]] = {}
    if salutation not in SALUTATIONS:
        errors["salutation"] = [_("Bitte wählen Sie „Frau“, „Herr“ oder keine Anrede.")]
    if not name:
        errors["name"] = [_("Bitte einen Namen angeben.")]
    elif len(name) > 200:
        errors["name"] = [_("Höchstens {n} Zeichen.", n=200)]
    if not EMAIL_RE.match(email) or len(email) > 254:
        errors["email"] = [_("Bitte geben Sie eine gültige E-Mail-Adresse an.")]
    if errors:
        raise ValidationFailed(errors)
    return name, email, salutation


def _exists(session: Session, ags: str, email: str) -> bool:
    """The address is known for the municipality, or was erased after an opt-out (its keyed hash stays, so
    the opt-out holds: services/privacy.erase_contact)."""
    from ews_cases.services.privacy import address_fingerprint  # privacy imports the case services

    known = (email, address_fingerprint(email))
    stmt = select(Contact.id).where(Contact.municipality_ags == ags, Contact.email.in_(known))
    return session.scalar(stmt) is not None


def _create(
    session: Session, actor: Actor, municipality: Municipality, name: str, email: str, salutation: str = ""
) -> Contact:
    contact = Contact(
        municipality_ags=municipality.ags,
        name=name,
        salutation=salutation,
        email=email,
        unsubscribe_token=secrets.token_urlsafe(24),
    )
    session.add(contact)
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="contact.created",
        data={
            "contact": contact.id,
            "municipality": municipality.ags,
            "name": name,
            "email": email,
            **({"salutation": salutation} if salutation else {}),
        },
    )
    return contact


def add_contact(
    session: Session, actor: Actor, ags: str, name: str, email: str, salutation: str = ""
) -> Contact:
    """A new reminder recipient for a municipality; the same address twice for it is a conflict."""
    _require_coordinator(actor)
    municipality = get_municipality(session, ags)
    name, email, salutation = _checked(name, email, salutation)
    if _exists(session, municipality.ags, email):
        raise Conflict(
            N_("{email} ist für {municipality} bereits eingetragen."),
            email=email,
            municipality=municipality.name,
        )
    return _create(session, actor, municipality, name, email, salutation)


@dataclass(frozen=True, slots=True)
class SkippedRow:
    line: int
    reason: str


@dataclass(slots=True)
class ImportResult:
    added: list[Contact] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)


def import_contacts(
    session: Session, actor: Actor, rows: Iterable[tuple[int, Mapping[str, str | None]]]
) -> ImportResult:
    """Add every valid row of `(line number, {"ags", "name", "email"[, "salutation"]})` pairs; skip the
    others with the reason. Addresses already known for the municipality, or repeated in the rows, are skipped too."""
    _require_coordinator(actor)
    result = ImportResult()
    seen: set[tuple[str, str]] = set()
    for line, row in rows:
        ags = normalise_ags(row.get("ags") or "")
        municipality = session.get(Municipality, ags) if ags else None
        if municipality is None:
            reason = _("Zum Schlüssel {ags} ist keine Kommune in NRW bekannt.", ags=ags or "—")
            result.skipped.append(SkippedRow(line, reason))
            continue
        try:
            name, email, salutation = _checked(
                row.get("name") or "", row.get("email") or "", row.get("salutation") or ""
            )
        except ValidationFailed as exc:
            reason = " ".join(f"{key}: {' '.join(msgs)}" for key, msgs in exc.errors.items())
            result.skipped.append(SkippedRow(line, reason))
            continue
        if (ags, email) in seen or _exists(session, ags, email):
            reason = _(
                "{email} ist für {municipality} bereits eingetragen.",
                email=email,
                municipality=municipality.name,
            )
            result.skipped.append(SkippedRow(line, reason))
            continue
        seen.add((ags, email))
        result.added.append(_create(session, actor, municipality, name, email, salutation))
    return result


def opt_out(session: Session, token: str) -> Contact:
    """Stop the reminders for the contact behind an unsubscribe link; repeating it changes nothing."""
    contact = session.scalar(select(Contact).where(Contact.unsubscribe_token == token)) if token else None
    if contact is None:
        raise NotFound(N_("Dieser Abmeldelink ist ungültig."))
    if contact.opted_out_at is None:
        contact.opted_out_at = utcnow()
        session.flush()
        chain.append(
            session,
            actor=Actor.system("unsubscribe"),
            action="contact.opted_out",
            data={"contact": contact.id, "municipality": contact.municipality_ags, "email": contact.email},
        )
    return contact
