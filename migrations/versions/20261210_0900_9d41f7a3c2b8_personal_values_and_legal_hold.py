"""personal values out of the hashed audit payload; legal hold and erasure marks on cases

Revision ID: 9d41f7a3c2b8
Revises: 9d3e6f1a2b47
Create Date: 2026-12-10 09:00:00.000000

Creates `personal_values` (docs/audit.md §7) and the legal-hold and erasure columns of `cases`, then converts
an existing trail once: every event's personal values (as declared in `ews_cases.audit.personal`) move into
`personal_values` and the event's `data` holds commitments instead; every chain is recomputed from position 1
and its head moved; one event `audit.converted` in the `global` chain lists each chain's old and new head.
The append-only triggers are lifted for the rewrite only, inside this migration's transaction.

The conversion uses a frozen copy of the declaration, the commitment and the canonical JSON of the\napplication at this revision (below), on Core tables: later model changes cannot change it. An
installation that holds signed checkpoints of its heads (the audit-trust issue) keeps the conversion event:
it names each old head, so a checkpoint signed before the conversion is matched against the `old` head of
its chain and one signed after against the new chain; see docs/privacy.md.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "9d41f7a3c2b8"
down_revision: str | None = "9d3e6f1a2b47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONVERSION_ACTION = "audit.converted"
CONVERSION_ACTOR = "system:migration"


def upgrade() -> None:
    op.create_table(
        "personal_values",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("subject_kind", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("salt", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erasure_category", sa.String(length=60), nullable=True),
        sa.Column("erasure_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_personal_values_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_values")),
    )
    op.create_index(op.f("ix_personal_values_case_id"), "personal_values", ["case_id"])
    op.create_index(
        "ix_personal_values_subject_kind_subject_id", "personal_values", ["subject_kind", "subject_id"]
    )
    op.add_column("cases", sa.Column("legal_hold_reason", sa.Text(), nullable=True))
    op.add_column("cases", sa.Column("legal_hold_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("cases", sa.Column("personal_data_erased_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("cases", sa.Column("personal_data_erasure_category", sa.String(length=60), nullable=True))
    _rewrite_chains(_to_commitments, record_conversion=True)


def downgrade() -> None:
    _rewrite_chains(_to_values, record_conversion=False)
    op.drop_column("cases", "personal_data_erasure_category")
    op.drop_column("cases", "personal_data_erased_at")
    op.drop_column("cases", "legal_hold_at")
    op.drop_column("cases", "legal_hold_reason")
    op.drop_index("ix_personal_values_subject_kind_subject_id", table_name="personal_values")
    op.drop_index(op.f("ix_personal_values_case_id"), table_name="personal_values")
    op.drop_table("personal_values")


# -- the conversion -------------------------------------------------------------------------------------
# Self-contained: a frozen copy of the declaration (`ews_cases.audit.personal` at this revision), the
# commitment and the chain hash (docs/audit.md), on Core tables, so later changes of the application cannot
# change what this migration does.

PD_KEY = "$pd"
SALT_BYTES = 16
GENESIS_HASH = "0" * 64
GLOBAL_CHAIN = "global"
HASHED_FIELDS = (
    "chain",
    "position",
    "case_id",
    "cohort",
    "occurred_at",
    "actor",
    "actor_role",
    "action",
    "from_state",
    "to_state",
    "data",
    "request_id",
)
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
    "invitation.sent": ("email", "name"),
    "invitation.accepted": ("email",),
    "invitation.expired": ("email",),
    "access_request.received": ("name", "email", "position"),
    "access_request.confirmed": ("email",),
    "access_request.declined": ("email", "reason"),
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


class _UTC(sa.types.TypeDecorator):  # type: ignore[type-arg]
    """UTC-aware datetimes on every backend (SQLite stores them naive, in UTC), as the models at this revision."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer),
    sa.column("chain", sa.String),
    sa.column("position", sa.Integer),
    sa.column("case_id", sa.Integer),
    sa.column("cohort_number", sa.Integer),
    sa.column("occurred_at", _UTC()),
    sa.column("actor", sa.String),
    sa.column("actor_role", sa.String),
    sa.column("action", sa.String),
    sa.column("from_state", sa.String),
    sa.column("to_state", sa.String),
    sa.column("data", _JSON),
    sa.column("request_id", sa.String),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)
_heads = sa.table(
    "audit_chain_heads",
    sa.column("chain", sa.String),
    sa.column("position", sa.Integer),
    sa.column("hash", sa.String),
)
_values = sa.table(
    "personal_values",
    sa.column("id", sa.Integer),
    sa.column("subject_kind", sa.String),
    sa.column("subject_id", sa.Integer),
    sa.column("case_id", sa.Integer),
    sa.column("field", sa.String),
    sa.column("value", sa.Text),
    sa.column("salt", sa.String),
    sa.column("created_at", _UTC()),
)
_team = sa.table(
    "team_members",
    sa.column("id", sa.Integer),
    sa.column("case_id", sa.Integer),
    sa.column("slot", sa.Integer),
)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_hash(prev_hash: str, event: dict[str, Any]) -> str:
    canonical = _CANONICAL.encode({name: event[name] for name in HASHED_FIELDS}).encode("utf-8")
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


def event_record(row: Any) -> dict[str, Any]:
    return {
        "chain": row.chain,
        "position": row.position,
        "case_id": row.case_id,
        "cohort": row.cohort_number,
        "occurred_at": format_time(row.occurred_at),
        "actor": row.actor,
        "actor_role": row.actor_role,
        "action": row.action,
        "from_state": row.from_state,
        "to_state": row.to_state,
        "data": row.data,
        "request_id": row.request_id,
    }


def _is_commitment(value: Any) -> bool:
    return isinstance(value, dict) and PD_KEY in value and set(value) == {PD_KEY, "sha256"}


def _leaves(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        if _is_commitment(value):
            return
        for key, item in value.items():
            yield from _leaves(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, str(index)))
    else:
        yield path, value


def _declared(action: str) -> tuple[str, ...] | None:
    if action in PERSONAL_FIELDS:
        return PERSONAL_FIELDS[action]
    return PERSONAL_FIELDS.get(action.split(".", 1)[0] + ".*")


def _matches(path: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    return len(path) == len(pattern) and all(p == "*" or p == k for k, p in zip(path, pattern, strict=True))


def _personal_paths(action: str, data: Any) -> Iterator[tuple[str, ...]]:
    patterns = _declared(action)
    split = None if patterns is None else [tuple(p.split(".")) for p in patterns]
    for path, value in _leaves(data, ()):
        if not isinstance(value, str) or not value:
            continue
        if split is None:
            if any(PERSONAL_LOOKING.search(key) for key in path if not key.isdigit()):
                yield path
        elif any(_matches(path, pattern) for pattern in split):
            yield path


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


def _set(data: Any, path: tuple[str, ...], value: Any) -> None:
    parent = _get(data, path[:-1])
    if isinstance(parent, list):
        parent[int(path[-1])] = value
    else:
        parent[path[-1]] = value


def _subject(
    path: tuple[str, ...], data: dict[str, Any], case_id: int | None, team: Callable[[], list[int]]
) -> tuple[str, int | None]:
    head = path[0]
    if head == "changes" and len(path) > 1:
        head, *rest = path[1].split(".")
        path = (head, *rest)
    if head == "contact" and case_id is not None:
        return "case_contact", case_id
    if head == "team" and case_id is not None and len(path) > 1 and path[1].isdigit():
        ids = team()
        if int(path[1]) < len(ids):
            return "team_member", ids[int(path[1])]
    for key, kind in (("member", "team_member"), ("contact", "contact"), ("user", "user")):
        if isinstance(data.get(key), int):
            return kind, data[key]
    return ("case", case_id) if case_id is not None else ("global", None)


def _to_commitments(connection: Any, event: Any) -> dict[str, Any]:
    """The event's data with each personal value stored in `personal_values` (random salt) and replaced by
    `{"$pd": id, "sha256": SHA-256(salt ‖ canonical JSON of the value)}`."""
    data = copy.deepcopy(event.data)
    now = datetime.now(UTC)
    team: list[int] | None = None

    def team_ids() -> list[int]:
        nonlocal team
        if team is None:
            stmt = sa.select(_team.c.id).where(_team.c.case_id == event.case_id).order_by(_team.c.slot)
            team = list(connection.execute(stmt).scalars())
        return team

    for path in list(_personal_paths(event.action, data)):
        value_json = _CANONICAL.encode(_get(data, path))
        salt = secrets.token_hex(SALT_BYTES)
        kind, subject_id = _subject(path, data, event.case_id, team_ids)
        row = {
            "subject_kind": kind,
            "subject_id": subject_id,
            "case_id": event.case_id,
            "field": ".".join(path)[:200],
            "value": value_json,
            "salt": salt,
            "created_at": now,
        }
        pd_id = connection.execute(sa.insert(_values).values(**row).returning(_values.c.id)).scalar_one()
        digest = hashlib.sha256(bytes.fromhex(salt) + value_json.encode("utf-8")).hexdigest()
        _set(data, path, {PD_KEY: int(pd_id), "sha256": digest})
    return data


def _resolve(data: Any, held: dict[int, str]) -> Any:
    if isinstance(data, dict):
        if _is_commitment(data):
            value = held.get(data[PD_KEY])
            return None if value is None else json.loads(value)
        return {key: _resolve(item, held) for key, item in data.items()}
    if isinstance(data, list):
        return [_resolve(item, held) for item in data]
    return data


def _commitment_ids(data: Any) -> Iterator[int]:
    if isinstance(data, dict):
        if _is_commitment(data):
            yield data[PD_KEY]
            return
        for item in data.values():
            yield from _commitment_ids(item)
    elif isinstance(data, list):
        for item in data:
            yield from _commitment_ids(item)


def _to_values(connection: Any, event: Any) -> dict[str, Any]:
    """Back to values in clear (erased ones become null), for the downgrade."""
    ids = list(_commitment_ids(event.data))
    if not ids:
        return event.data
    rows = connection.execute(sa.select(_values.c.id, _values.c.value).where(_values.c.id.in_(ids))).all()
    return _resolve(event.data, {row.id: row.value for row in rows if row.value is not None})


def _rewrite_chains(convert: Callable[[Any, Any], dict[str, Any]], *, record_conversion: bool) -> None:
    connection = op.get_bind()
    events, heads = _events, _heads
    chains = list(connection.execute(sa.select(heads.c.chain, heads.c.hash).order_by(heads.c.chain)))
    if not connection.execute(sa.select(sa.func.count()).select_from(events)).scalar_one():
        return
    _lift_triggers(connection)
    moved: list[dict[str, str]] = []
    for chain, old_head in chains:
        prev_hash = GENESIS_HASH
        rows = connection.execute(
            sa.select(events).where(events.c.chain == chain).order_by(events.c.position)
        )
        for row in list(rows):
            data = convert(connection, row)
            record = {**event_record(row), "data": data}
            digest = chain_hash(prev_hash, record)
            connection.execute(
                events.update()
                .where(events.c.id == row.id)
                .values(data=data, prev_hash=prev_hash, hash=digest)
            )
            prev_hash = digest
        connection.execute(heads.update().where(heads.c.chain == chain).values(hash=prev_hash))
        moved.append({"chain": chain, "old_head": old_head, "new_head": prev_hash})
    _restore_triggers(connection)
    if not record_conversion:
        return
    head = connection.execute(
        sa.select(heads.c.position, heads.c.hash).where(heads.c.chain == GLOBAL_CHAIN)
    ).one_or_none()
    position, prev_hash = head if head is not None else (0, GENESIS_HASH)
    now = datetime.now(UTC)
    record = {
        "chain": GLOBAL_CHAIN,
        "position": position + 1,
        "case_id": None,
        "cohort": None,
        "occurred_at": format_time(now),
        "actor": CONVERSION_ACTOR,
        "actor_role": "system",
        "action": CONVERSION_ACTION,
        "from_state": None,
        "to_state": None,
        "data": {"revision": revision, "chains": moved},
        "request_id": None,
    }
    digest = chain_hash(prev_hash, record)
    columns = {k: v for k, v in record.items() if k not in ("cohort", "occurred_at")}
    connection.execute(
        events.insert().values(
            **columns, cohort_number=None, occurred_at=now, prev_hash=prev_hash, hash=digest
        )
    )
    if head is None:
        connection.execute(heads.insert().values(chain=GLOBAL_CHAIN, position=1, hash=digest))
    else:
        connection.execute(
            heads.update().where(heads.c.chain == GLOBAL_CHAIN).values(position=position + 1, hash=digest)
        )


def _lift_triggers(connection: Any) -> None:
    if connection.dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")


def _restore_triggers(connection: Any) -> None:
    if connection.dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete")
    else:
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END"
        )
