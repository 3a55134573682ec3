"""Operational endpoints: health (public), the workflow as data, and the email outbox."""

from __future__ import annotations

from typing import Any

import redis
from apiflask import Schema
from apiflask.validators import Length, OneOf, Range
from flask import current_app
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from ews_cases.api.auth import ALL_ROLES, READERS, allow
from ews_cases.api.blueprint import api
from ews_cases.api.fields import AwareDateTime, Boolean, Integer, List, Nested, String
from ews_cases.api.pagination import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT, paginate
from ews_cases.db.request_session import db_session
from ews_cases.i18n.translate import _
from ews_cases.models import OutboxMessage
from ews_cases.models.outbox import OUTBOX_STATUSES
from workflows import TRANSITIONS_BY_NAME, WORKFLOW, Role, State

_STATES = {"enum": [s.value for s in State]}


class HealthOut(Schema):
    status = String(metadata={"enum": ["ok", "degraded"]})
    database = String(metadata={"description": '"ok" or "error: <kind>"'})
    broker = String(metadata={"description": '"ok", "error: <kind>" or "not configured"'})


class WorkflowState(Schema):
    name = String(metadata=_STATES)
    label = String()
    final = Boolean()


class WorkflowGuard(Schema):
    code = String()
    message = String(metadata={"description": "Refusal message template ({placeholders} filled in per case)"})


class WorkflowTransition(Schema):
    name = String(metadata={"enum": list(TRANSITIONS_BY_NAME)})
    label = String()
    from_ = List(String(metadata=_STATES), data_key="from")
    to = String(metadata=_STATES)
    roles = List(
        String(metadata={"enum": [r.value for r in Role]}), metadata={"description": "`system`: a task"}
    )
    requires_reason = Boolean()
    guards = List(Nested(WorkflowGuard))
    overridable = List(String())
    effects = List(String())


class WorkflowOut(Schema):
    initial = String(metadata=_STATES)
    states = List(Nested(WorkflowState))
    transitions = List(Nested(WorkflowTransition))


class OutboxQuery(Schema):
    status = String(load_default=None, validate=OneOf(OUTBOX_STATUSES))
    case = Integer(load_default=None, validate=Range(1, MAX_ID))
    kind = String(load_default=None, validate=Length(max=60))
    limit = Integer(load_default=DEFAULT_LIMIT, validate=Range(1, MAX_LIMIT))
    cursor = String(load_default=None, metadata={"description": "next_cursor of the previous page"})


class OutboxMessageOut(Schema):
    id = Integer()
    status = String(metadata={"enum": list(OUTBOX_STATUSES)})
    attempts = Integer()
    last_error = String(allow_none=True)
    kind = String()
    recipient = String()
    subject = String()
    case = Integer(allow_none=True)
    message_id = String()
    created_at = AwareDateTime()
    next_attempt_at = AwareDateTime()
    sent_at = AwareDateTime(allow_none=True)


class OutboxPage(Schema):
    items = List(Nested(OutboxMessageOut))
    next_cursor = String(allow_none=True)


def _failure(exc: BaseException) -> str:
    # Only the kind of error: this endpoint is public, and messages can name hosts and users.
    return f"error: {type(exc).__name__}"


def _database_status() -> str:
    try:
        db_session().execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return _failure(exc)
    return "ok"


def _broker_status() -> str:
    settings = current_app.extensions["ews"].settings
    url = settings.broker_url or settings.redis_url
    if not url:
        return "not configured"
    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        return _failure(exc)
    return "ok"


@api.get("/health")
@api.output(HealthOut)
@api.doc(
    operation_id="get_health",
    responses={
        503: {
            "description": "The database does not answer",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HealthOut"}}},
        }
    },
)
def health() -> tuple[dict[str, Any], int]:
    """Health of the service and its database and broker; no token needed.

    200 while the database answers; a broker outage only degrades the service (changes still commit and
    their emails go out once it is back). 503 when the database does not answer.
    """
    database, broker = _database_status(), _broker_status()
    status = "ok" if database == "ok" and broker in ("ok", "not configured") else "degraded"
    return {"status": status, "database": database, "broker": broker}, 200 if database == "ok" else 503


@api.get("/workflow")
@allow(*sorted(ALL_ROLES))
@api.doc(operation_id="get_workflow")
@api.output(WorkflowOut)
def workflow() -> dict[str, Any]:
    """The case state machine as data: states, transitions with roles, guards and effects."""
    data = WORKFLOW.as_data()
    for state in data["states"]:
        label = state["label"]
        state["label"] = _(label)
    for transition in data["transitions"]:
        label = transition["label"]
        transition["label"] = _(label)
        transition["from_"] = transition.pop("from")
        for guard in transition["guards"]:
            message = guard["message"]
            guard["message"] = _(message)
    return data


@api.get("/outbox")
@allow(*sorted(READERS))
@api.input(OutboxQuery, location="query", arg_name="query")
@api.output(OutboxPage)
@api.doc(responses=[422])
def list_outbox(query: dict[str, Any]) -> dict[str, Any]:
    """Email delivery status: every queued message with its attempts and the last error, oldest first."""
    stmt = select(OutboxMessage)
    if query["status"] is not None:
        stmt = stmt.where(OutboxMessage.status == query["status"])
    if query["case"] is not None:
        stmt = stmt.where(OutboxMessage.case_id == query["case"])
    if query["kind"] is not None:
        stmt = stmt.where(OutboxMessage.kind == query["kind"])
    return paginate(db_session(), stmt, OutboxMessage.id, query, _outbox_data)


def _outbox_data(message: OutboxMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "status": message.status,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "kind": message.kind,
        "recipient": message.recipient,
        "subject": message.subject,
        "case": message.case_id,
        "message_id": message.message_id,
        "created_at": message.created_at,
        "next_attempt_at": message.next_attempt_at,
        "sent_at": message.sent_at,
    }
