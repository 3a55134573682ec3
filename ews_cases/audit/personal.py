"""Which audit data is personal, and the commitments that stand for it in the hashed payload (docs/audit.md §7).

`PERSONAL_FIELDS` is the one declaration: per action, the data paths whose string values are personal.
`chain.append` replaces each such value with a commitment `{"$pd": <id>, "sha256": <hex>}` and stores the value
and a random salt in `personal_values`; the chain hashes the commitment. Erasure deletes value and salt: the
commitment then reveals nothing (the salt is gone) and the chain still verifies.

    sha256 = SHA-256( salt (16 bytes) ‖ UTF-8 canonical JSON of the value )

An action missing from the declaration is not a hole: every string under a key that looks personal
(`PERSONAL_LOOKING`) is committed by default, and `tests/audit/test_personal.py` fails for an action appended
anywhere in the code that is not declared here.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PD_KEY = "$pd"
SALT_BYTES = 16
#: Paths are dot-separated keys of `data`; `*` matches one key or one list index.
CASE_CONTENT = (
    "contact.salutation",
    "contact.name",
    "contact.email",
    "contact.phone",
    "team.*.salutation",
    "team.*.name",
    "team.*.email",
    "team.*.position",
    "answers.*",
)
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "case.created": CASE_CONTENT,
    # Flattened paths (`contact.email`, `team.1.name`, `answers.goals`) are single keys under `changes`;
    # only strings are committed, so `consent` (true/false) stays in clear.
    "case.updated": ("changes.*.old", "changes.*.new"),
    "transition.*": ("reason", "emails.*.to"),
    "review.recorded": ("comment",),
    "attendance.recorded": (),
    "project.updated": ("changes.title.*", "changes.summary.*", "changes.report.*", "reason"),
    "certificate.issued": ("holder",),
    "certificate.prepared": ("holder",),
    "certificate.released": ("holder",),
    "certificate.replaced": ("holder", "reason"),
    "cohort.certificates_released": ("reason",),
    "certificate.revoked": ("reason",),
    "email.delivered": ("to",),
    "email.failed": ("to", "error"),
    "email.cancelled": ("reason",),
    "cohort.created": ("signatory_name",),  # the official who signs the certificates
    "cohort.updated": ("changes.signatory_name.*",),
    "session.created": (),
    "reminders.queued": (),
    "user.created": ("email",),
    "user.updated": (),
    "user.role_changed": ("reason",),
    "user.deactivated": ("reason",),
    "user.reactivated": ("reason",),
    "user.opted_out": ("email",),
    "user.password_changed": (),
    "user.password_reset_requested": (),
    "user.password_reset": (),
    "user.second_factor_enrolled": (),
    "user.second_factor_disabled": (),
    "user.second_factor_reset": (),
    "user.recovery_codes_renewed": (),
    "user.recovery_code_used": (),
    "token.created": ("name",),
    "token.revoked": (),
    "contact.created": ("salutation", "name", "email"),
    "contact.opted_out": ("email",),
    "contact.opted_in": ("email",),
    "user.opted_in": ("email",),
    "user.checkpoint_mail": (),
    "invitation.sent": ("email", "name"),
    "invitation.accepted": ("email",),
    "invitation.expired": ("email",),
    "access_request.received": ("name", "email", "position"),
    "access_request.confirmed": ("email",),
    "access_request.declined": ("email", "reason"),
    "accessibility.barrier_reported": ("name", "email", "description"),
    "session.updated": ("emails.*.to",),
    "session.cancelled": ("reason", "emails.*.to"),
    "case.legal_hold_set": ("reason",),
    "case.legal_hold_lifted": ("reason",),
    "privacy.erased": ("reason",),
    "privacy.exported": ("email",),
    "audit.converted": (),
}
#: Keys that look personal: committed for actions missing from `PERSONAL_FIELDS`.
PERSONAL_LOOKING = re.compile(
    r"(^|_)(e?mail|email_address|name|first_name|last_name|phone|mobile|comment|reason|holder|to|cc|"
    r"recipient|recipients|address|note|notes|text|message|body|error|answer|answers|position)$"
)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def value_bytes(value: Any) -> bytes:
    """The canonical JSON of a value as UTF-8, as stored in `personal_values.value` and hashed."""
    return _CANONICAL.encode(value).encode("utf-8")


def commitment_hash(salt_hex: str, value_json: str | bytes) -> str:
    """SHA-256 over the salt's 16 bytes followed by the value's canonical JSON, lowercase hex."""
    raw = value_json.encode("utf-8") if isinstance(value_json, str) else value_json
    return hashlib.sha256(bytes.fromhex(salt_hex) + raw).hexdigest()


def new_salt() -> str:
    return secrets.token_hex(SALT_BYTES)


def is_commitment(value: Any) -> bool:
    return isinstance(value, dict) and PD_KEY in value and set(value) == {PD_KEY, "sha256"}


def declared(action: str) -> tuple[str, ...] | None:
    """The declared personal paths of `action`, or None when it is not declared."""
    if action in PERSONAL_FIELDS:
        return PERSONAL_FIELDS[action]
    prefix = action.split(".", 1)[0] + ".*"
    return PERSONAL_FIELDS.get(prefix)


def _matches(path: Sequence[str], pattern: Sequence[str]) -> bool:
    return len(path) == len(pattern) and all(p == "*" or p == k for k, p in zip(path, pattern, strict=True))


def personal_paths(action: str, data: Any) -> Iterator[tuple[str, ...]]:
    """The paths in `data` whose values are personal non-empty strings (declared, or by default)."""
    patterns = declared(action)
    split = None if patterns is None else [tuple(p.split(".")) for p in patterns]
    for path, value in leaves(data, ()):
        if not isinstance(value, str) or not value:
            continue
        if split is None:
            if any(PERSONAL_LOOKING.search(key) for key in path if not key.isdigit()):
                yield path
        elif any(_matches(path, pattern) for pattern in split):
            yield path


def leaves(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        if is_commitment(value):
            return
        for key, item in value.items():
            yield from leaves(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, str(index)))
    else:
        yield path, value


def _get(data: Any, path: Sequence[str]) -> Any:
    for key in path:
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


def _set(data: Any, path: Sequence[str], value: Any) -> None:
    parent = _get(data, path[:-1])
    if isinstance(parent, list):
        parent[int(path[-1])] = value
    else:
        parent[path[-1]] = value


@dataclass(frozen=True, slots=True)
class Subject:
    kind: str
    id: int | None


def subject_of(
    action: str,
    path: Sequence[str],
    data: Mapping[str, Any],
    case_id: int | None,
    team_ids: Callable[[], list[int]],
) -> Subject:
    """Whom a value at `path` is about (for erasure and access requests); `team_ids()` gives the case's team
    member ids in slot order."""
    head = path[0]
    if head == "changes" and len(path) > 1:
        head, *rest = path[1].split(".")
        path = (head, *rest)
    if head == "contact" and case_id is not None:
        return Subject("case_contact", case_id)
    if head == "team" and case_id is not None and len(path) > 1 and path[1].isdigit():
        ids = team_ids()
        index = int(path[1])
        if index < len(ids):
            return Subject("team_member", ids[index])
    if isinstance(data.get("member"), int):
        return Subject("team_member", data["member"])
    if isinstance(data.get("contact"), int):
        return Subject("contact", data["contact"])
    if isinstance(data.get("user"), int):
        return Subject("user", data["user"])
    if case_id is not None:
        return Subject("case", case_id)
    return Subject("global", None)


@dataclass(frozen=True, slots=True)
class NewValue:
    """A personal value to store; `append` inserts it and puts the commitment at `path`."""

    path: tuple[str, ...]
    subject: Subject
    value_json: str
    salt: str

    @property
    def sha256(self) -> str:
        return commitment_hash(self.salt, self.value_json)


def commit(
    action: str,
    data: dict[str, Any],
    *,
    case_id: int | None,
    team_ids: Callable[[], list[int]],
    store: Callable[[NewValue], int],
) -> dict[str, Any]:
    """Replace the personal values in `data` (JSON-ready, changed in place) by commitments; `store` saves one
    value and returns its id. Returns `data`."""
    for path in list(personal_paths(action, data)):
        value = _get(data, path)
        new = NewValue(
            path, subject_of(action, path, data, case_id, team_ids), value_bytes(value).decode(), new_salt()
        )
        _set(data, path, {PD_KEY: store(new), "sha256": new.sha256})
    return data


def commitments(data: Any) -> Iterator[dict[str, Any]]:
    """Every commitment inside `data`."""
    if isinstance(data, dict):
        if is_commitment(data):
            yield data
            return
        for item in data.values():
            yield from commitments(item)
    elif isinstance(data, list):
        for item in data:
            yield from commitments(item)


@dataclass(frozen=True, slots=True)
class Held:
    """What `personal_values` holds for one commitment."""

    id: int
    value: str | None  # canonical JSON, None once erased
    salt: str | None
    erased_at: datetime | None
    erasure_category: str | None
    erasure_reason: str | None

    @property
    def erased(self) -> bool:
        return self.value is None

    def matches(self, sha256: str) -> bool:
        return (
            self.value is not None
            and self.salt is not None
            and commitment_hash(self.salt, self.value) == sha256
        )


def resolve(data: Any, held: Mapping[int, Held], erased: Callable[[Held | None], Any]) -> Any:
    """A copy of `data` with each commitment replaced by its value, or by `erased(held)` once erased (or
    missing). Shown to readers; never hashed."""
    if isinstance(data, dict):
        if is_commitment(data):
            entry = held.get(data[PD_KEY])
            if entry is None or entry.erased:
                return erased(entry)
            return json.loads(entry.value)
        return {key: resolve(item, held, erased) for key, item in data.items()}
    if isinstance(data, list):
        return [resolve(item, held, erased) for item in data]
    return data
