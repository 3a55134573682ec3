"""Names instead of ids on the auditor's pages: people, team members, sessions, certificates, contacts,
tokens, municipalities and cases of one page of events, each kind looked up in one query."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.models import (
    ApiToken,
    AuditEvent,
    Case,
    Certificate,
    CohortSession,
    Contact,
    Municipality,
    TeamMember,
    User,
)


@dataclass(frozen=True, slots=True)
class SessionName:
    kind: str
    title: str
    starts_at: datetime


def as_int(value: Any) -> int | None:
    """An id from an event's data; anything else (a forged or odd value) is no id."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def user_id(actor: str) -> int | None:
    kind, _sep, key = actor.partition(":")
    return int(key) if kind == "user" and key.isdigit() and len(key) < 10 else None


@dataclass
class Names:
    """What the ids of a page's events stand for; ids whose row is gone are simply missing."""

    users: dict[int, tuple[str, str]] = field(default_factory=dict)  # id → (name, email)
    members: dict[int, str] = field(default_factory=dict)
    sessions: dict[int, SessionName] = field(default_factory=dict)
    certificates: dict[str, str] = field(default_factory=dict)  # serial → holder
    contacts: dict[int, tuple[str, str]] = field(default_factory=dict)  # id → (name, email)
    tokens: dict[int, str] = field(default_factory=dict)
    municipalities: dict[str, str] = field(default_factory=dict)  # AGS → name
    cases: dict[int, str] = field(default_factory=dict)  # id → reference

    @classmethod
    def load(cls, session: Session, events: Iterable[AuditEvent]) -> Names:
        """One query per kind of name the events refer to (none for a kind they do not use)."""
        wanted: dict[str, set[Any]] = {
            "users": set(),
            "members": set(),
            "sessions": set(),
            "serials": set(),
            "contacts": set(),
            "tokens": set(),
            "ags": set(),
            "cases": set(),
        }
        for event in events:
            data: Mapping[str, Any] = event.data if isinstance(event.data, dict) else {}
            wanted["users"].add(user_id(event.actor))
            wanted["users"].add(as_int(data.get("user")))
            wanted["members"].add(as_int(data.get("member")))
            if event.action == "attendance.recorded":
                wanted["sessions"].add(as_int(data.get("session")))
            if event.action.startswith("certificate."):
                wanted["serials"].add(as_str(data.get("serial")))
            wanted["contacts"].add(as_int(data.get("contact")))
            wanted["tokens"].add(as_int(data.get("token")))
            wanted["ags"].add(as_str(data.get("municipality")))
            wanted["cases"].add(event.case_id)
        ids = {kind: values - {None} for kind, values in wanted.items()}
        names = cls()
        if ids["users"]:
            rows = session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids["users"])))
            names.users = {row.id: (row.name, row.email) for row in rows}
        if ids["members"]:
            rows = session.execute(
                select(TeamMember.id, TeamMember.name).where(TeamMember.id.in_(ids["members"]))
            )
            names.members = {row.id: row.name for row in rows}
        if ids["sessions"]:
            rows = session.execute(
                select(
                    CohortSession.id, CohortSession.kind, CohortSession.title, CohortSession.starts_at
                ).where(CohortSession.id.in_(ids["sessions"]))
            )
            names.sessions = {row.id: SessionName(row.kind, row.title, row.starts_at) for row in rows}
        if ids["serials"]:
            rows = session.execute(
                select(Certificate.serial, Certificate.holder_name).where(
                    Certificate.serial.in_(ids["serials"])
                )
            )
            names.certificates = {row.serial: row.holder_name for row in rows}
        if ids["contacts"]:
            rows = session.execute(
                select(Contact.id, Contact.name, Contact.email).where(Contact.id.in_(ids["contacts"]))
            )
            names.contacts = {row.id: (row.name, row.email) for row in rows}
        if ids["tokens"]:
            rows = session.execute(select(ApiToken.id, ApiToken.name).where(ApiToken.id.in_(ids["tokens"])))
            names.tokens = {row.id: row.name for row in rows}
        if ids["ags"]:
            rows = session.execute(
                select(Municipality.ags, Municipality.name).where(Municipality.ags.in_(ids["ags"]))
            )
            names.municipalities = {row.ags: row.name for row in rows}
        if ids["cases"]:
            rows = session.execute(select(Case.id, Case.reference).where(Case.id.in_(ids["cases"])))
            names.cases = {row.id: row.reference for row in rows}
        return names
