"""Ceiling A of `bench/transition_throughput.py`: the same writes as an EWS transition, in plain SQL.

    gunicorn bench.minimal_app:app        (EWS_DATABASE_URL=postgresql://... in the environment)

`POST /api/v1/cases/<id>/transitions` with `{"name": ..., "version": ...}` and a bearer token does, in ONE
transaction on one psycopg connection per thread (no ORM, no pool library):

1. look up the token's user (hash of the token, not revoked, user active) and require a coordinator;
2. `UPDATE cases SET state, version + 1, updated_at WHERE id AND version AND state = 'reviewed'` (the
   version check; 409 when no row matched);
3. lock the case's audit chain head (`FOR UPDATE`), hash the event onto it the way `ews_cases.audit.chain` does
   (SHA-256 over the previous hash and the canonical JSON), INSERT the audit event, UPDATE the head;
4. INSERT one outbox row (the waitlist email to the contact person);
5. COMMIT and answer with the case's id, state and version.

What it skips compared with the real app (on purpose, it is a ceiling): the token's `last_used_at` note
(a second short transaction), reading the case before locking it, the workflow machine and its guards,
marshmallow validation and serialisation of the full case (team, answers, municipality), Babel and the
rendered German email texts, request ids, the web blueprints' hooks. Only `waitlist` is supported.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from datetime import UTC, datetime

import psycopg
from flask import Flask, jsonify, request

TRANSITION = "waitlist"
FROM_STATE, TO_STATE = "reviewed", "waitlisted"

app = Flask(__name__)
_local = threading.local()


def _dsn() -> str:
    url = os.environ["EWS_DATABASE_URL"]
    return "postgresql://" + url.split("://", 1)[1]


def _connection() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(_dsn())
        _local.conn = conn
    return conn


def _chain_hash(prev_hash: str, record: dict) -> str:
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(prev_hash.encode("ascii") + canonical.encode("utf-8")).hexdigest()


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@app.post("/api/v1/cases/<int:case_id>/transitions")
def transition(case_id: int):
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return jsonify(message="unauthorised"), 401
    data = request.get_json(silent=True) or {}
    if data.get("name") != TRANSITION or not isinstance(data.get("version"), int):
        return jsonify(message="bad request"), 422
    token_hash = hashlib.sha256(auth[7:].encode("utf-8")).hexdigest()
    now = datetime.now(UTC)
    conn = _connection()
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "SELECT u.id, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id"
                " WHERE t.token_hash = %s AND t.revoked_at IS NULL AND u.active",
                (token_hash,),
            )
            user = cur.fetchone()
            if user is None:
                return jsonify(message="unauthorised"), 401
            if user[1] != "coordinator":
                return jsonify(message="forbidden"), 403
            cur.execute(
                "UPDATE cases SET state = %s, version = version + 1, updated_at = %s"
                " WHERE id = %s AND version = %s AND state = %s"
                " RETURNING version, cohort_id, contact_email, reference,"
                " (SELECT number FROM cohorts WHERE cohorts.id = cases.cohort_id)",
                (TO_STATE, now, case_id, data["version"], FROM_STATE),
            )
            row = cur.fetchone()
            if row is None:
                raise _Conflict
            version, _cohort_id, contact_email, reference, cohort_number = row
            chain = f"case:{case_id}"
            cur.execute("SELECT position, hash FROM audit_chain_heads WHERE chain = %s FOR UPDATE", (chain,))
            position, prev_hash = cur.fetchone()
            cur.execute(
                "INSERT INTO outbox_messages (dedup_key, message_id, case_id, kind, recipient, subject, body,"
                " attachments, headers, status, attempts, next_attempt_at, created_at)"
                " VALUES (%s, %s, %s, 'announce_waitlist', %s, %s, %s, '[]', '{}', 'pending', 0, %s, %s)"
                " RETURNING id",
                (
                    f"case:{case_id}:v{version}:{TRANSITION}:announce_waitlist:{contact_email}",
                    f"<{uuid.uuid4().hex}@example.org>",
                    case_id,
                    contact_email,
                    f"Bewerbung {reference}: Warteliste",
                    f"Guten Tag,\n\ndie Bewerbung {reference} steht auf der Warteliste.\n",
                    now,
                    now,
                ),
            )
            message_id = cur.fetchone()[0]
            record = {
                "chain": chain,
                "position": position + 1,
                "case_id": case_id,
                "cohort": cohort_number,
                "occurred_at": _format_time(now),
                "actor": f"user:{user[0]}",
                "actor_role": user[1],
                "action": f"transition.{TRANSITION}",
                "from_state": FROM_STATE,
                "to_state": TO_STATE,
                "data": {
                    "transition": TRANSITION,
                    "version": version,
                    "reason": None,
                    "overridden": [],
                    "emails": [{"id": message_id, "to": contact_email, "kind": "announce_waitlist"}],
                },
                "request_id": None,
            }
            digest = _chain_hash(prev_hash, record)
            cur.execute(
                "INSERT INTO audit_events (chain, position, case_id, cohort_number, occurred_at, actor,"
                " actor_role, action, from_state, to_state, data, request_id, prev_hash, hash)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, %s)",
                (
                    chain,
                    record["position"],
                    case_id,
                    cohort_number,
                    now,
                    record["actor"],
                    record["actor_role"],
                    record["action"],
                    FROM_STATE,
                    TO_STATE,
                    json.dumps(record["data"]),
                    prev_hash,
                    digest,
                ),
            )
            cur.execute(
                "UPDATE audit_chain_heads SET position = %s, hash = %s WHERE chain = %s",
                (record["position"], digest, chain),
            )
    except _Conflict:
        return jsonify(message="stale version or wrong state"), 409
    return jsonify(id=case_id, state=TO_STATE, version=version)


class _Conflict(Exception):
    """No row matched the version check: roll back and answer 409."""
