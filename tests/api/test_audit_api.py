"""The auditor endpoints: the filtered global log, its pages, the streamed exports and chain verification."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from ews_cases.audit.chain import event_record, iter_db_records, verify_jsonl, verify_records
from ews_cases.audit.export import CSV_COLUMNS
from ews_cases.audit.personal import commitments, value_bytes
from ews_cases.audit.queries import AuditFilter, held_values, iter_records
from ews_cases.errors import ValidationFailed
from ews_cases.models import AuditEvent, case_chain
from testkit.factories import ATTENDORN, DUESSELDORF, FINNENTROP
from tests.api.test_participation_api import assert_problem, bearer, role_tokens
from tests.audit.test_integrity import expected_privilege_warnings, trigger_lifted
from tests.test_audit import forge_data
from workflows import State


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(session, factory):
    return role_tokens(session, factory)


@pytest.fixture
def world(session, factory, tokens):
    """Two cohorts with cases in several states, plus the global events of users and tokens."""
    first, second = factory.cohort(), factory.cohort()
    cases = {
        "admitted": factory.case(first, FINNENTROP, state=State.ADMITTED),
        "submitted": factory.case(first, ATTENDORN, state=State.SUBMITTED),
        "other": factory.case(second, DUESSELDORF, state=State.REVIEWED),
    }
    session.commit()
    return {"cohorts": (first, second), "cases": cases}


def all_events(session) -> list[AuditEvent]:
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    session.commit()
    return list(events)


def fetch(client, token: str, **params) -> dict:
    response = client.get("/api/v1/audit", query_string=params, headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def walk(client, token: str, **params) -> list[dict]:
    """Every page of the log for `params`, following next_cursor."""
    items, cursor, pages = [], None, 0
    while True:
        page = fetch(client, token, **params, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert pages < 1000


def sequences(items: list[dict]) -> list[int]:
    return [i["sequence"] for i in items]


# -- the log ---------------------------------------------------------------------------------------------


def test_log_lists_events_as_export_records_in_sequence_order(client, session, tokens, world):
    events = all_events(session)
    page = fetch(client, tokens["auditor"], limit=500)
    assert page["next_cursor"] is None
    # Each record as exported, plus what its commitments stand for (docs/audit.md §7).
    assert [{k: v for k, v in i.items() if k != "personal"} for i in page["items"]] == [
        event_record(e) for e in events
    ]
    held = held_values(session, (e.data for e in events))
    for item in page["items"]:
        for commitment in commitments(item["data"]):
            shown = item["personal"][str(commitment["$pd"])]
            assert shown == {
                "erased": False,
                "value": json.loads(held[commitment["$pd"]].value),
                "salt": shown["salt"],
            }
            salted = bytes.fromhex(shown["salt"]) + value_bytes(shown["value"])
            assert hashlib.sha256(salted).hexdigest() == commitment["sha256"]


def test_pagination_walks_every_event_exactly_once(client, session, tokens, world):
    events = all_events(session)
    assert len(events) > 20
    items = walk(client, tokens["coordinator"], limit=7)
    assert sequences(items) == [e.id for e in events]
    first = fetch(client, tokens["coordinator"], limit=7)
    assert len(first["items"]) == 7
    assert first["next_cursor"] is not None


def test_filters_each_narrow_the_log(client, session, tokens, world):
    events = all_events(session)
    first_cohort, second_cohort = world["cohorts"]
    admitted = world["cases"]["admitted"]
    coordinator_label = next(e.actor for e in events if e.action == "transition.admit")
    token = tokens["auditor"]

    def expect(predicate) -> list[int]:
        wanted = [e.id for e in events if predicate(e)]
        assert 0 < len(wanted) < len(events)
        return wanted

    assert sequences(walk(client, token, cohort=first_cohort.number)) == expect(
        lambda e: e.cohort_number == first_cohort.number
    )
    assert sequences(walk(client, token, case=admitted.id)) == expect(lambda e: e.case_id == admitted.id)
    assert sequences(walk(client, token, actor=coordinator_label)) == expect(
        lambda e: e.actor == coordinator_label
    )
    assert sequences(walk(client, token, actor="system:tests")) == expect(lambda e: e.actor == "system:tests")
    assert sequences(walk(client, token, action="transition.admit")) == expect(
        lambda e: e.action == "transition.admit"
    )
    assert sequences(walk(client, token, action="transition.*")) == expect(
        lambda e: e.action.startswith("transition.")
    )
    assert len(walk(client, token, action="*")) == len(events)
    assert walk(client, token, action="transition_*") == []  # `_` is literal, not SQL's any-character
    assert walk(client, token, action="transition") == []  # exact unless it ends in *

    combined = walk(client, token, cohort=second_cohort.number, action="review.*")
    assert sequences(combined) == expect(
        lambda e: e.cohort_number == second_cohort.number and e.action.startswith("review.")
    )


def test_time_range_from_is_inclusive_and_to_exclusive(client, session, tokens, world):
    events = all_events(session)
    middle, later = events[len(events) // 2], events[-3]
    assert middle.occurred_at < later.occurred_at
    token = tokens["auditor"]
    since = walk(client, token, **{"from": middle.occurred_at.isoformat()})
    assert sequences(since) == [e.id for e in events if e.occurred_at >= middle.occurred_at]
    assert middle.id in sequences(since)
    bounds = {"from": middle.occurred_at.isoformat(), "to": later.occurred_at.isoformat()}
    window = sequences(walk(client, token, **bounds))
    assert window == [e.id for e in events if middle.occurred_at <= e.occurred_at < later.occurred_at]
    assert middle.id in window
    assert later.id not in window

    # The same instant written with another offset selects the same events.
    summer_time = middle.occurred_at.astimezone(timezone(timedelta(hours=2))).isoformat()
    assert summer_time.endswith("+02:00")
    assert sequences(walk(client, token, **{"from": summer_time})) == sequences(since)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-11-21T08:00:00"}, "from"),  # no offset
        ({"from": "gestern"}, "from"),
        ({"to": "2026-13-01T00:00:00+01:00"}, "to"),
        ({"from": "2026-11-21T10:00:00+01:00", "to": "2026-11-21T08:00:00+01:00"}, "to"),
        ({"action": "trans*ition"}, "action"),
        ({"action": "transition.*.x"}, "action"),
        ({"actor": "jemand"}, "actor"),
        ({"cohort": "sechs"}, "cohort"),
        ({"case": "0"}, "case"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"cursor": "kaputt!"}, "cursor"),
    ],
)
def test_invalid_filters_are_422_with_errors(client, tokens, params, field):
    response = client.get("/api/v1/audit", query_string=params, headers=bearer(tokens["auditor"]))
    assert_problem(response, 422, field)


def test_from_after_to_is_refused_by_the_filter_itself():
    late, early = datetime(2026, 11, 21, 10, tzinfo=UTC), datetime(2026, 11, 21, 8, tzinfo=UTC)
    with pytest.raises(ValidationFailed) as refused:
        AuditFilter(since=late, until=early)
    assert set(refused.value.errors) == {"to"}
    with pytest.raises(ValidationFailed):
        AuditFilter(since=datetime(2026, 11, 21))  # naive
    AuditFilter(since=early, until=early)  # an empty range is allowed


@pytest.mark.parametrize("endpoint", ["/api/v1/audit", "/api/v1/audit/export", "/api/v1/audit/verify"])
@pytest.mark.parametrize("who", ["applicant", "reviewer", "admin"])
def test_only_auditors_and_coordinators_read_the_log(client, tokens, endpoint, who):
    assert_problem(client.get(endpoint, headers=bearer(tokens[who])), 403)


@pytest.mark.parametrize("endpoint", ["/api/v1/audit", "/api/v1/audit/export", "/api/v1/audit/verify"])
def test_the_log_needs_a_token(client, endpoint):
    assert_problem(client.get(endpoint), 401)


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_log_cannot_be_written(client, tokens, method):
    response = getattr(client, method)("/api/v1/audit", json={}, headers=bearer(tokens["auditor"]))
    assert_problem(response, 405)


# -- exports ---------------------------------------------------------------------------------------------


def chain_ordered_records(session) -> list[dict]:
    records = list(iter_db_records(session))
    session.commit()
    return records


def test_jsonl_export_streams_every_event_in_chain_order(client, session, tokens, world):
    expected = chain_ordered_records(session)
    response = client.get(
        "/api/v1/audit/export?format=jsonl", headers=bearer(tokens["auditor"]), buffered=False
    )
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    assert response.is_streamed
    assert re.fullmatch(
        r"attachment; filename=ews-audit-\d{8}T\d{6}Z\.jsonl", response.headers["Content-Disposition"]
    )
    lines = response.get_data().splitlines()
    assert [json.loads(line) for line in lines] == expected
    assert verify_jsonl(lines).ok
    assert [(r["chain"], r["position"]) for r in expected] == sorted(
        (r["chain"], r["position"]) for r in expected
    )


def test_jsonl_is_the_default_format(client, session, tokens, world):
    response = client.get("/api/v1/audit/export", headers=bearer(tokens["coordinator"]))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith(".jsonl")
    assert len(response.get_data().splitlines()) == len(chain_ordered_records(session))


def test_csv_export_holds_the_same_events(client, session, tokens, world):
    expected = chain_ordered_records(session)
    response = client.get("/api/v1/audit/export?format=csv", headers=bearer(tokens["auditor"]))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [int(r["sequence"]) for r in rows] == [r["sequence"] for r in expected]
    for row, record in zip(rows, expected, strict=True):
        assert json.loads(row["data"]) == record["data"]
        assert row["hash"] == record["hash"]
        assert row["action"] == record["action"]
        assert row["case_id"] == ("" if record["case_id"] is None else str(record["case_id"]))


def test_csv_export_for_a_german_excel_has_bom_semicolons_and_the_same_rows(client, session, tokens, world):
    tools = client.get("/api/v1/audit/export?format=csv", headers=bearer(tokens["auditor"])).get_data()
    assert not tools.startswith(b"\xef\xbb\xbf")  # rfc4180 is the API's default
    response = client.get(
        "/api/v1/audit/export?format=csv&dialect=excel-de", headers=bearer(tokens["auditor"])
    )
    assert response.status_code == 200
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    excel = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert excel == list(csv.reader(io.StringIO(tools.decode("utf-8"), newline="")))
    assert (
        client.get(
            "/api/v1/audit/export?format=csv&dialect=excel", headers=bearer(tokens["auditor"])
        ).status_code
        == 422
    )


def test_unknown_export_format_is_422(client, tokens):
    response = client.get("/api/v1/audit/export?format=xml", headers=bearer(tokens["auditor"]))
    assert_problem(response, 422, "format")


def test_filtered_records_keep_chain_order_and_a_whole_case_chain_verifies(session, world):
    admitted = world["cases"]["admitted"]
    records = list(iter_records(session, AuditFilter(case_id=admitted.id)))
    assert {r["chain"] for r in records} == {case_chain(admitted.id)}
    assert [r["position"] for r in records] == list(range(1, len(records) + 1))
    assert verify_records(records).ok
    transitions = list(iter_records(session, AuditFilter(action="transition.*"), batch=2))
    session.commit()
    keys = [(r["chain"], r["position"]) for r in transitions]
    assert keys == sorted(keys)
    assert {r["action"].split(".")[0] for r in transitions} == {"transition"}


# -- verification ----------------------------------------------------------------------------------------


def test_verify_reports_a_missing_or_disabled_append_only_trigger(client, db, tokens, world):
    with trigger_lifted(db) as trigger:
        response = client.get("/api/v1/audit/verify", headers=bearer(tokens["auditor"]))
    assert response.status_code == 200
    result = response.get_json()
    assert result["ok"] is True  # every chain still verifies
    assert result["storage_ok"] is False
    state = "missing" if db.is_sqlite else "disabled"
    assert result["storage"] == [
        f"append-only trigger {trigger} on audit_events is {state}",
        *expected_privilege_warnings(db),
    ]


def test_verify_reports_ok_and_then_the_first_broken_event(client, db, session, tokens, world):
    response = client.get("/api/v1/audit/verify", headers=bearer(tokens["auditor"]))
    assert response.status_code == 200
    result = response.get_json()
    assert result["ok"] is True
    assert result["first_break"] is None
    assert result["storage_ok"] is True
    assert result["storage"] == expected_privilege_warnings(db)
    assert result["events"] == len(all_events(session))

    admitted = world["cases"]["admitted"]
    target = session.scalars(
        select(AuditEvent).where(AuditEvent.chain == case_chain(admitted.id), AuditEvent.position == 2)
    ).one()
    session.commit()
    forge_data(db, target.id, forged=True)

    response = client.get("/api/v1/audit/verify", headers=bearer(tokens["coordinator"]))
    assert response.status_code == 200
    result = response.get_json()
    assert result["ok"] is False
    assert result["first_break"] == {
        "chain": case_chain(admitted.id),
        "position": 2,
        "sequence": target.id,
        "problem": "hash does not match the event's content",
    }
    assert result["breaks"] == [result["first_break"]]
