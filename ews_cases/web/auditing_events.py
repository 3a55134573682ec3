"""How the auditor's pages show audit events: each one as a German sentence ("Gutachten abgegeben von
Dr. Beispiel: Bedarf 4, …"), its other data as labelled fields, edits as old → new, and the canonical JSON
its hash covers. The words are in `auditing_labels`; names come from `auditing_names` (once per page)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from ews_cases.audit import personal
from ews_cases.audit.chain import canonical_json, event_record
from ews_cases.audit.queries import held_values
from ews_cases.i18n.formatting import de_date, de_timestamp
from ews_cases.i18n.translate import _
from ews_cases.models import AuditEvent
from ews_cases.web.auditing_labels import (
    ACTION_LABELS,
    ACTOR_ROLES,
    PROBLEMS,
    SYSTEM_TASKS,
    VALUE_LABELS,
)
from ews_cases.web.auditing_names import Names, as_int, as_str, user_id
from ews_cases.web.auditing_values import (
    Change,
    changes_of,
    count_changed,
    field_label,
    flatten,
    label_of,
    labelled,
    person_name,
    session_name,
    show,
)

#: How many message numbers of a cancellation the page lists (the raw JSON has all).
_LISTED_MESSAGES = 20


@dataclass
class EventView:
    """One event as the pages show it."""

    event: AuditEvent
    sentence: str
    what: str
    who: str
    role: str
    when: str
    case_reference: str | None
    fields: list[tuple[str, str]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    canonical: str = ""
    #: The event's personal values with what an auditor needs to check each against its commitment.
    personal: list[PersonalShown] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PersonalShown:
    """One commitment of an event: its id and hash, and the value and salt (or the erasure note)."""

    id: int
    sha256: str
    value_json: str | None
    salt: str | None
    erased: str | None
    matches: bool


def erasure_note(entry: personal.Held | None) -> str:
    """ "gelöscht am 12.03.2027 (Grund)" where a value was; the reason, else the category's label."""
    if entry is None or entry.erased_at is None:
        return _("gelöscht")
    reason = entry.erasure_reason or label_of("erasure_category", entry.erasure_category or "")
    return _("gelöscht am {date} ({reason})", date=de_date(entry.erased_at), reason=reason)


def _personal_shown(data: Any, held: Mapping[int, personal.Held]) -> list[PersonalShown]:
    shown = []
    for commitment in personal.commitments(data):
        entry = held.get(commitment[personal.PD_KEY])
        erased = entry is None or entry.erased
        shown.append(
            PersonalShown(
                id=commitment[personal.PD_KEY],
                sha256=commitment["sha256"],
                value_json=None if erased or entry is None else entry.value,
                salt=None if erased or entry is None else entry.salt,
                erased=erasure_note(entry) if erased else None,
                matches=entry is not None and entry.matches(commitment["sha256"]),
            )
        )
    return shown


@dataclass(frozen=True, slots=True)
class Described:
    """What an action's describer says beyond its label: the sentence's end, fields and changes."""

    summary: str | None = None
    fields: list[tuple[str, str]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Context:
    """What a describer works from: the event, its data (as stored, so checked before use), the names."""

    event: AuditEvent
    data: Mapping[str, Any]
    names: Names

    def user(self, key: str = "user") -> str:
        found = as_int(self.data.get(key))
        return person_name(self.names, found) if found is not None else "–"

    def municipality(self) -> str:
        ags = as_str(self.data.get("municipality"))
        if ags is None:
            return "–"
        name = self.names.municipalities.get(ags)
        return _("{name} ({ags})", name=name, ags=ags) if name else ags

    def state(self, state: str | None) -> str:
        return label_of("state", state) if state else "–"


# -- one describer per action ----------------------------------------------------------------------------


def _case_created(c: Context) -> Described:
    content = {k: v for k, v in c.data.items() if k not in ("reference", "municipality")}
    return Described(
        _(
            "{reference} für {municipality}",
            reference=show(c.data.get("reference")),
            municipality=c.municipality(),
        ),
        labelled(flatten(content)),
    )


def _case_updated(c: Context) -> Described:
    changes = changes_of(c.data)
    return Described(count_changed(len(changes)), [], changes)


def _transition(c: Context) -> Described:
    fields = labelled(c.data, "reason")
    overridden = c.data.get("overridden")
    if isinstance(overridden, list) and overridden:
        fields.append((field_label("overridden"), ", ".join(label_of("guard", code) for code in overridden)))
    emails = _emails(c.data.get("emails"))
    if emails:
        fields.append((field_label("emails"), emails))
    state_change = _("{old} → {new}", old=c.state(c.event.from_state), new=c.state(c.event.to_state))
    return Described(state_change, fields)


def _emails(queued: Any) -> str:
    """The emails a transition queued, by letter: "Zulassung an a@…, b@…; Eingangsbestätigung an c@…"."""
    if not isinstance(queued, list):
        return ""
    by_letter: dict[str, list[str]] = {}
    for email in queued:
        if isinstance(email, Mapping):
            by_letter.setdefault(label_of("letter", email.get("kind")), []).append(show(email.get("to")))
    return "; ".join(
        _("{letter} an {recipients}", letter=letter, recipients=", ".join(to))
        for letter, to in by_letter.items()
    )


def _review(c: Context) -> Described:
    scores = c.data.get("scores") if isinstance(c.data.get("scores"), Mapping) else {}
    # In the review form's order: PostgreSQL's JSONB keeps keys in an order of its own.
    order = {criterion: n for n, criterion in enumerate(VALUE_LABELS["criterion"])}
    given = ", ".join(
        f"{label_of('criterion', criterion)} {show(scores[criterion])}"
        for criterion in sorted(scores, key=lambda key: (order.get(key, len(order)), key))
    )
    summary = _(
        "{scores} – Empfehlung: {recommendation}",
        scores=given or "–",
        recommendation=label_of("recommendation", c.data.get("recommendation")),
    )
    return Described(summary, labelled(c.data, "comment"))


def _attendance(c: Context) -> Described:
    member = as_int(c.data.get("member"))
    person = c.names.members.get(member) if member is not None else None
    old, new = c.data.get("old"), c.data.get("new")
    status = (
        _("{old} → {new}", old=label_of("attendance", old), new=label_of("attendance", new))
        if old
        else label_of("attendance", new)
    )
    summary = _(
        "{person}, {session}: {status}",
        person=person or (_("Person Nr. {id}", id=member) if member is not None else "–"),
        session=session_name(c.names, as_int(c.data.get("session"))),
        status=status,
    )
    return Described(summary)


def _project(c: Context) -> Described:
    changes = changes_of(c.data)
    status = c.data.get("changes", {}).get("status") if isinstance(c.data.get("changes"), Mapping) else None
    if isinstance(status, Mapping):
        summary = _(
            "Status {old} → {new}",
            old=label_of("status", status.get("old")),
            new=label_of("status", status.get("new")),
        )
    else:
        summary = count_changed(len(changes))
    return Described(summary, labelled(c.data, "reason"), changes)


def _certificate_issued(c: Context) -> Described:
    member = as_int(c.data.get("member"))
    holder = as_str(c.data.get("holder")) or (c.names.members.get(member) if member is not None else None)
    return Described(_("{serial} für {holder}", serial=show(c.data.get("serial")), holder=holder or "–"))


def _certificate_revoked(c: Context) -> Described:
    serial = as_str(c.data.get("serial"))
    holder = c.names.certificates.get(serial) if serial else None
    summary = _("{serial} ({holder})", serial=serial, holder=holder) if holder else show(serial)
    return Described(summary, labelled(c.data, "reason"))


def _certificate_replaced(c: Context) -> Described:
    summary = _(
        "{serial} für {holder} ersetzt {old}",
        serial=show(c.data.get("serial")),
        holder=as_str(c.data.get("holder")) or "–",
        old=show(c.data.get("replaces")),
    )
    return Described(summary, labelled(c.data, "reason"))


def _certificates_released(c: Context) -> Described:
    summary = _(
        "{number}. Durchgang, Abschlussveranstaltung am {day}",
        number=show(c.data.get("number")),
        day=show(c.data.get("ceremony_on"), "ceremony_on"),
    )
    return Described(summary, labelled(c.data, "reason"))


def _email(c: Context) -> Described:
    summary = _(
        "{letter} an {recipient}",
        letter=label_of("letter", c.data.get("kind")),
        recipient=show(c.data.get("to")),
    )
    return Described(summary, labelled(c.data, "attempts", "error", "outbox", "message_id"))


def _emails_cancelled(c: Context) -> Described:
    given = c.data.get("outbox")
    numbers = [n for n in given if as_int(n) is not None] if isinstance(given, list) else []
    listed = ", ".join(str(n) for n in numbers[:_LISTED_MESSAGES])
    if len(numbers) > _LISTED_MESSAGES:
        listed = _("{numbers} und {more} weitere", numbers=listed, more=len(numbers) - _LISTED_MESSAGES)
    fields = labelled(c.data, "reason")
    if listed:
        fields.append((field_label("outbox"), listed))
    return Described(_("{count} Nachrichten", count=show(c.data.get("count"))), fields)


def _reminders(c: Context) -> Described:
    summary = _(
        "Durchgang {number}: {count} Fristerinnerungen, {days} Tage vor Fristende",
        number=show(c.event.cohort_number),
        count=show(c.data.get("count")),
        days=show(c.data.get("offset_days")),
    )
    return Described(summary, labelled(c.data, "scan_time"))


def _cohort_created(c: Context) -> Described:
    summary = _(
        "Durchgang {number} – „{title}“", number=show(c.data.get("number")), title=show(c.data.get("title"))
    )
    return Described(summary, labelled({k: v for k, v in c.data.items() if k not in ("number", "title")}))


def _cohort_updated(c: Context) -> Described:
    return Described(_("Durchgang {number}", number=show(c.data.get("number"))), [], changes_of(c.data))


def _session_created(c: Context) -> Described:
    summary = _(
        "{kind} „{title}“ am {moment} in {location}",
        kind=label_of("session_kind", c.data.get("kind")),
        title=show(c.data.get("title")),
        moment=show(c.data.get("starts_at"), "starts_at"),
        location=show(c.data.get("location")),
    )
    return Described(summary, labelled(c.data, "ends_at"))


def _session_updated(c: Context) -> Described:
    summary = _(
        "{session}, Fassung {sequence}",
        session=session_name(c.names, as_int(c.data.get("session"))),
        sequence=show(c.data.get("sequence")),
    )
    return Described(summary, labelled(c.data, "emails"), changes_of(c.data))


def _session_cancelled(c: Context) -> Described:
    summary = _(
        "„{title}“ am {moment}",
        title=show(c.data.get("title")),
        moment=show(c.data.get("starts_at"), "starts_at"),
    )
    return Described(summary, labelled(c.data, "reason", "emails"))


def _contact(c: Context) -> Described:
    known = c.names.contacts.get(as_int(c.data.get("contact")) or 0)
    name = as_str(c.data.get("name")) or (known[0] if known else "–")
    email = as_str(c.data.get("email")) or (known[1] if known else "–")
    summary = _("{name} ({email}), {municipality}", name=name, email=email, municipality=c.municipality())
    return Described(summary)


def _barrier(c: Context) -> Described:
    page = as_str(c.data.get("page")) or "–"
    return Described(
        _(
            "Seite: {page}; gemeldet von {name} ({email})",
            page=page,
            name=as_str(c.data.get("name")) or "–",
            email=as_str(c.data.get("email")) or "–",
        )
    )


def _user_created(c: Context) -> Described:
    """Also an invitation sent (its invitee's name) or accepted (the new account)."""
    summary = _(
        "{name} ({email}), Rolle: {role}",
        name=c.user() if "user" in c.data else show(c.data.get("name")),
        email=show(c.data.get("email")),
        role=label_of("role", c.data.get("role")),
    )
    fields = [(field_label("municipality"), c.municipality())] if c.data.get("municipality") else []
    return Described(summary, fields + labelled(c.data, "expires_at", "renewed"))


def _by_address(c: Context) -> Described:
    """An invitation expired, an access request decided: the address, and a reason or expiry if any."""
    return Described(show(c.data.get("email")), labelled(c.data, "reason", "expires_at"))


def _user_changed(c: Context) -> Described:
    return Described(c.user(), [], changes_of(c.data))


def _user_opted_out(c: Context) -> Described:
    return Described(_("{name} ({email})", name=c.user(), email=show(c.data.get("email"))))


def _password(c: Context) -> Described:
    return Described(_("Konto {name}", name=c.user()))


def _token(c: Context) -> Described:
    token = as_int(c.data.get("token"))
    name = as_str(c.data.get("name")) or (c.names.tokens.get(token) if token is not None else None)
    shown = _("„{name}“", name=name) if name else _("Nr. {id}", id=show(token))
    return Described(_("{token} für {user}", token=shown, user=c.user()))


def _erased(c: Context) -> Described:
    summary = _(
        "{category}, {subject}: {values} Werte",
        category=label_of("erasure_category", c.data.get("category")),
        subject=label_of("erasure_subject", c.data.get("subject")),
        values=show(c.data.get("values")),
    )
    fields = [(field_label("reason"), show(c.data.get("reason")))] if c.data.get("reason") else []
    if c.data.get("cases"):
        fields.append((field_label("cases"), show(c.data.get("cases"))))
    kept = c.data.get("kept") if isinstance(c.data.get("kept"), list) else []
    if kept:
        fields.append(
            (
                field_label("kept"),
                "; ".join(
                    f"{show(k.get('case'))}: {label_of('kept_category', k.get('category'))}, "
                    f"{show(k.get('until'))}"
                    for k in kept
                    if isinstance(k, Mapping)
                ),
            )
        )
    return Described(summary, fields)


def _legal_hold(c: Context) -> Described:
    return Described(show(c.data.get("reason")))


def _exported(c: Context) -> Described:
    return Described(show(c.data.get("email")), labelled({k: v for k, v in c.data.items() if k != "email"}))


def _converted(c: Context) -> Described:
    chains = c.data.get("chains") if isinstance(c.data.get("chains"), list) else []
    listed = "; ".join(
        f"{show(item.get('chain'))}: {show(item.get('old_head'))} → {show(item.get('new_head'))}"
        for item in chains
        if isinstance(item, Mapping)
    )
    summary = _("{count} Prüfketten neu berechnet", count=len(chains))
    return Described(
        summary, [(field_label("revision"), show(c.data.get("revision"))), (field_label("chains"), listed)]
    )


DESCRIBERS: dict[str, Callable[[Context], Described]] = {
    "privacy.erased": _erased,
    "privacy.exported": _exported,
    "case.legal_hold_set": _legal_hold,
    "case.legal_hold_lifted": _legal_hold,
    "audit.converted": _converted,
    "case.created": _case_created,
    "case.updated": _case_updated,
    "review.recorded": _review,
    "attendance.recorded": _attendance,
    "project.updated": _project,
    "certificate.issued": _certificate_issued,
    "certificate.revoked": _certificate_revoked,
    "certificate.prepared": _certificate_issued,
    "certificate.released": _certificate_issued,
    "certificate.replaced": _certificate_replaced,
    "cohort.certificates_released": _certificates_released,
    "email.delivered": _email,
    "email.failed": _email,
    "email.cancelled": _emails_cancelled,
    "reminders.queued": _reminders,
    "cohort.created": _cohort_created,
    "cohort.updated": _cohort_updated,
    "session.created": _session_created,
    "session.updated": _session_updated,
    "session.cancelled": _session_cancelled,
    "contact.created": _contact,
    "contact.opted_out": _contact,
    "contact.opted_in": _contact,
    "user.created": _user_created,
    "user.role_changed": _user_changed,
    "user.deactivated": _user_changed,
    "user.reactivated": _user_changed,
    "user.opted_out": _user_opted_out,
    "user.opted_in": _user_opted_out,
    "user.password_changed": _password,
    "user.password_reset_requested": _password,
    "user.password_reset": _password,
    "user.second_factor_enrolled": _password,
    "user.second_factor_disabled": _password,
    "user.second_factor_reset": _password,
    "user.recovery_code_used": _password,
    "user.recovery_codes_renewed": _password,
    "token.created": _token,
    "token.revoked": _token,
    "invitation.sent": _user_created,
    "invitation.accepted": _user_created,
    "invitation.expired": _by_address,
    "access_request.received": _contact,
    "access_request.confirmed": _by_address,
    "access_request.declined": _by_address,
    "accessibility.barrier_reported": _barrier,
}


def _unknown(c: Context) -> Described:
    """An action without a describer (none of ours: the tests see to that): every field, labelled."""
    return Described(None, labelled(c.data), changes_of(c.data))


def describer(action: str) -> Callable[[Context], Described]:
    if action.startswith("transition."):
        return _transition
    return DESCRIBERS.get(action, _unknown)


# -- the events of a page --------------------------------------------------------------------------------


def action_label(action: str) -> str:
    return _(ACTION_LABELS[action]) if action in ACTION_LABELS else action


def _who(event: AuditEvent, names: Names) -> str:
    found = user_id(event.actor)
    if found is not None:
        return person_name(names, found)
    kind, _sep, task = event.actor.partition(":")
    if kind == "system":
        return _(SYSTEM_TASKS[task]) if task in SYSTEM_TASKS else task
    return event.actor


def sentence(event: AuditEvent, what: str, who: str, summary: str | None) -> str:
    """People: "{what} von {who}: {summary}"; the system: "{what} (automatisch: {task}): {summary}"."""
    if event.actor_role == "system":
        if summary:
            return _("{what} (automatisch: {task}): {summary}", what=what, task=who, summary=summary)
        return _("{what} (automatisch: {task})", what=what, task=who)
    if summary:
        return _("{what} von {who}: {summary}", what=what, who=who, summary=summary)
    return _("{what} von {who}", what=what, who=who)


def describe(session: Session, events: Iterable[AuditEvent]) -> list[EventView]:
    """The events as the pages show them; the names they refer to are looked up once for all of them."""
    events = list(events)
    names = Names.load(session, events)
    held = held_values(session, (event.data for event in events))
    views = []
    for event in events:
        data = event.data if isinstance(event.data, Mapping) else {}
        data = personal.resolve(data, held, erasure_note)
        described = describer(event.action)(Context(event, data, names))
        what, who = action_label(event.action), _who(event, names)
        views.append(
            EventView(
                event=event,
                sentence=sentence(event, what, who, described.summary),
                what=what,
                who=who,
                role=_(ACTOR_ROLES[event.actor_role])
                if event.actor_role in ACTOR_ROLES
                else event.actor_role,
                when=de_timestamp(event.occurred_at),
                case_reference=names.cases.get(event.case_id) if event.case_id is not None else None,
                fields=described.fields,
                changes=described.changes,
                canonical=_canonical(event),
                personal=_personal_shown(event.data, held),
            )
        )
    return views


def _canonical(event: AuditEvent) -> str:
    """The bytes the event's hash covers, as text; empty for an event that cannot be serialised (forged)."""
    try:
        return canonical_json(event_record(event)).decode("utf-8")
    except (TypeError, ValueError):
        return ""


def problem_text(problem: str) -> str:
    for start, text in PROBLEMS:
        if problem.startswith(start):
            return _(text)
    return problem


def chain_case_id(chain: str) -> int | None:
    number = chain.removeprefix("case:")
    return int(number) if chain.startswith("case:") and number.isdigit() else None
