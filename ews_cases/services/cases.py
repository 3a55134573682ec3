"""Create and edit applications (drafts); every edit is audited with old and new values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import Conflict, Forbidden, ValidationFailed
from ews_cases.i18n.translate import N_, _
from ews_cases.models import Case, Cohort, Municipality, TeamMember, utcnow
from ews_cases.models.case import ANSWER_FIELDS
from ews_cases.services.locking import lock_case
from ews_cases.services.validation import EMAIL_RE
from workflows import Actor, Permission, Role, permits

CASE_CREATORS = frozenset({Role.APPLICANT, Role.COORDINATOR})


#: The salutations a person may give: none stated (e.g. for "divers"), "Frau", "Herr" (letters greet
#: "Sehr geehrte Frau …" / "Sehr geehrter Herr …", else "Guten Tag Vorname Nachname").
SALUTATIONS = ("", "Frau", "Herr")


@dataclass(frozen=True, slots=True)
class MemberInput:
    name: str = ""
    email: str = ""
    position: str = ""
    salutation: str = ""


@dataclass(frozen=True, slots=True)
class CaseInput:
    """The editable content of an application; every part may be incomplete while it is a draft."""

    contact_name: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    contact_salutation: str = ""
    team: Sequence[MemberInput] = ()
    answers: Mapping[str, str] = field(default_factory=dict)
    consent: bool = False


def case_snapshot(case: Case) -> dict[str, Any]:
    """The editable content of a case as plain data (what the audit trail records)."""
    return {
        "contact": {
            "salutation": case.contact_salutation,
            "name": case.contact_name,
            "email": case.contact_email,
            "phone": case.contact_phone,
        },
        "team": [
            {"salutation": m.salutation, "name": m.name, "email": m.email, "position": m.position}
            for m in case.team
        ],
        "answers": case.answers(),
        "consent": case.consent,
    }


def _check_content(cohort: Cohort, content: CaseInput) -> None:
    errors: dict[str, list[str]] = {}
    if len(content.team) > cohort.team_size:
        errors["team"] = [
            _("Das Entwicklungsteam besteht aus höchstens {size} Personen.", size=cohort.team_size)
        ]
    for index, member in enumerate(content.team):
        if member.email.strip() and not EMAIL_RE.match(member.email.strip()):
            errors[f"team.{index}.email"] = [_("Bitte geben Sie eine gültige E-Mail-Adresse an.")]
        if member.salutation not in SALUTATIONS:
            errors[f"team.{index}.salutation"] = [_("Bitte wählen Sie „Frau“, „Herr“ oder keine Anrede.")]
    if content.contact_salutation not in SALUTATIONS:
        errors["contact.salutation"] = [_("Bitte wählen Sie „Frau“, „Herr“ oder keine Anrede.")]
    if content.contact_email.strip() and not EMAIL_RE.match(content.contact_email.strip()):
        errors["contact.email"] = [_("Bitte geben Sie eine gültige E-Mail-Adresse an.")]
    unknown = set(content.answers) - set(ANSWER_FIELDS)
    if unknown:
        errors["answers"] = [_("Unbekannte Felder: {names}", names=", ".join(sorted(unknown)))]
    if errors:
        raise ValidationFailed(errors)


def _apply_content(case: Case, content: CaseInput) -> None:
    case.contact_name = content.contact_name.strip()
    case.contact_email = content.contact_email.strip()
    case.contact_phone = content.contact_phone.strip()
    case.contact_salutation = content.contact_salutation
    for name in ANSWER_FIELDS:
        setattr(case, name, content.answers.get(name, "").strip())
    case.consent = content.consent
    members = {m.slot: m for m in case.team}
    for slot, given in enumerate(content.team, start=1):
        member = members.pop(slot, None) or TeamMember(slot=slot)
        member.name, member.email, member.position, member.salutation = (
            given.name.strip(),
            given.email.strip(),
            given.position.strip(),
            given.salutation,
        )
        if member not in case.team:
            case.team.append(member)
    for leftover in members.values():
        case.team.remove(leftover)


class CaseExists(Conflict):
    """A second case for the same municipality and cohort (SPEC §3: one each); `case` is the first."""

    def __init__(self, case: Case) -> None:
        super().__init__(
            N_("Für {town} gibt es in diesem Durchgang bereits die Bewerbung {reference}."),
            town=case.municipality.name,
            reference=case.reference,
        )
        self.case = case


def require_no_case_yet(session: Session, cohort: Cohort, municipality_ags: str) -> None:
    """Refuse a second case of one municipality in one cohort with `CaseExists`."""
    existing = session.scalar(
        select(Case).where(Case.cohort_id == cohort.id, Case.municipality_ags == municipality_ags)
    )
    if existing is not None:
        raise CaseExists(existing)


def _check_creator(actor: Actor, municipality_ags: str) -> None:
    if actor.role not in CASE_CREATORS:
        raise Forbidden(N_("Ihre Rolle darf keine Bewerbungen anlegen."))
    if actor.role is Role.APPLICANT and actor.municipality_ags != municipality_ags:
        raise Forbidden(N_("Sie dürfen nur für Ihre eigene Kommune eine Bewerbung anlegen."))


def create_case(
    session: Session,
    actor: Actor,
    *,
    cohort_number: int,
    municipality_ags: str,
    content: CaseInput,
    now: datetime | None = None,
) -> Case:
    """A new draft for one municipality in one cohort (a second one for the same pair is a conflict)."""
    now = now or utcnow()
    _check_creator(actor, municipality_ags)
    cohort = session.execute(
        select(Cohort).where(Cohort.number == cohort_number).with_for_update()
    ).scalar_one_or_none()  # the lock serialises reference numbers within the cohort
    errors: dict[str, list[str]] = {}
    if cohort is None:
        errors["cohort"] = [_("Den Durchgang {number} gibt es nicht.", number=cohort_number)]
    municipality = session.get(Municipality, municipality_ags)
    if municipality is None:
        errors["municipality"] = [
            _("Zum Schlüssel {ags} ist keine Kommune in NRW bekannt.", ags=municipality_ags)
        ]
    if errors:
        raise ValidationFailed(errors)
    assert cohort is not None
    assert municipality is not None
    if not cohort.is_open(now):
        raise ValidationFailed(
            {
                "cohort": [
                    _("Für die {title} können derzeit keine Bewerbungen angelegt werden.", title=cohort.title)
                ]
            }
        )
    require_no_case_yet(session, cohort, municipality_ags)
    _check_content(cohort, content)
    number = (session.scalar(select(func.max(Case.number)).where(Case.cohort_id == cohort.id)) or 0) + 1
    case = Case(
        cohort=cohort,
        municipality=municipality,
        number=number,
        reference=f"EWS{cohort.number}-{number:04d}",
        created_by_id=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    _apply_content(case, content)
    session.add(case)
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="case.created",
        case=case,
        to_state=case.state,
        data={"reference": case.reference, "municipality": municipality_ags, **case_snapshot(case)},
    )
    return case


def update_draft(
    session: Session,
    case: Case,
    actor: Actor,
    *,
    expected_version: int,
    content: CaseInput,
) -> Case:
    """Replace a draft's content; records each changed field with its old and new value."""
    _check_creator(actor, case.municipality_ags)
    case = lock_case(session, case.id)
    if case.version != expected_version:
        raise Conflict(
            N_("Die Bewerbung wurde inzwischen geändert (Version {current}, erwartet {expected})."),
            current=case.version,
            expected=expected_version,
        )
    if not permits(case.state, Permission.EDIT_APPLICATION, actor.role):
        raise Conflict(N_("Nur Entwürfe können bearbeitet werden."))
    _check_content(case.cohort, content)
    before = _flatten(case_snapshot(case))
    _apply_content(case, content)
    case.updated_at = utcnow()  # always an UPDATE of the row, so the version moves even for team-only edits
    session.flush()
    after = _flatten(case_snapshot(case))
    changes = {
        key: {"old": before.get(key), "new": after.get(key)}
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    }
    chain.append(
        session,
        actor=actor,
        action="case.updated",
        case=case,
        data={"version": case.version, "changes": changes},
    )
    return case


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{path}."))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                flat.update(
                    _flatten(item, f"{path}.{index}.")
                    if isinstance(item, Mapping)
                    else {f"{path}.{index}": item}
                )
        else:
            flat[path] = value
    return flat
