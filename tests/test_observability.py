"""Observability (issue 6): `/metrics` in Prometheus format and structured JSON logs with the request id."""

from __future__ import annotations

import json
import logging
import logging.config
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from ews_cases.models import Case, Municipality, OutboxMessage, ReminderSent
from ews_cases.observability import metrics
from ews_cases.observability.logs import ContextFilter, JsonFormatter, logging_config
from ews_cases.services.transitions import apply_transition
from ews_cases.settings import Settings
from tests.api.test_participation_api import token_for
from workflows import State


def scrape(client, **headers) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """`/metrics` parsed: (sample name, sorted labels) → value."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def reviewed(session, factory):
    cohort = factory.cohort(capacity=10)
    ags = session.scalars(select(Municipality.ags).where(Municipality.type != "Kreis").limit(2)).all()
    cases = [factory.case(cohort, a, state=State.REVIEWED) for a in ags]
    session.commit()
    return cases


def test_committed_transitions_are_counted_by_name_refused_ones_are_not(client, session, factory, reviewed):
    token = token_for(session, factory, "coordinator")
    auth = {"Authorization": f"Bearer {token}"}
    before = scrape(client)

    first, second = reviewed
    ok = client.post(
        f"/api/v1/cases/{first.id}/transitions",
        json={"name": "admit", "version": first.version},
        headers=auth,
    )
    assert ok.status_code == 200, ok.text
    stale = client.post(
        f"/api/v1/cases/{first.id}/transitions",
        json={"name": "admit", "version": first.version},
        headers=auth,
    )
    assert stale.status_code == 409
    waitlisted = client.post(
        f"/api/v1/cases/{second.id}/transitions",
        json={"name": "waitlist", "version": second.version},
        headers=auth,
    )
    assert waitlisted.status_code == 200, waitlisted.text

    after = scrape(client)
    assert (
        value(after, "ews_transitions_total", transition="admit")
        - value(before, "ews_transitions_total", transition="admit")
        == 1
    )
    assert (
        value(after, "ews_transitions_total", transition="waitlist")
        - value(before, "ews_transitions_total", transition="waitlist")
        == 1
    )
    route = "/api/v1/cases/<int:case_id>/transitions"
    for status, expected in (("200", 2), ("409", 1)):
        grew = value(after, "ews_http_requests_total", method="POST", route=route, status=status) - value(
            before, "ews_http_requests_total", method="POST", route=route, status=status
        )
        assert grew == expected, status
    assert value(after, "ews_http_request_duration_seconds_count", method="POST", route=route) >= 3


def test_transitions_in_rolled_back_savepoints_or_transactions_are_not_counted(session, factory, reviewed):
    coordinator = factory.coordinator()
    session.commit()
    counter = metrics.TRANSITIONS.labels("waitlist")
    before = counter._value.get()
    first, second = reviewed

    savepoint = session.begin_nested()
    apply_transition(session, first, "waitlist", coordinator, first.version)
    savepoint.rollback()  # e.g. a page that tries a transition and keeps the rest of its work
    assert first.state == State.REVIEWED  # the loaded case does not keep the undone state
    with session.begin_nested():
        apply_transition(session, second, "waitlist", coordinator, second.version)
    session.commit()
    assert counter._value.get() - before == 1

    apply_transition(session, first, "waitlist", coordinator, first.version)
    session.rollback()
    session.commit()
    assert counter._value.get() - before == 1
    assert session.scalar(select(Case.state).where(Case.id == first.id)) == State.REVIEWED


def test_outbox_and_reminder_gauges_come_from_the_database(client, session, factory, reviewed):
    cohort = reviewed[0].cohort
    before = scrape(client)
    for n, status in enumerate(("pending", "pending", "failed", "sent")):
        session.add(
            OutboxMessage(
                dedup_key=f"metrics-{n}",
                message_id=f"<metrics-{n}@ews.test>",
                kind="test",
                recipient=f"person{n}@example.org",
                subject="Test",
                body="Test",
                status=status,
            )
        )
    for n, offset in enumerate((14, 14, 3)):
        session.add(
            ReminderSent(
                cohort_id=cohort.id,
                recipient=f"r{n}@example.org",
                offset_days=offset,
                municipality_ags=reviewed[0].municipality_ags,
                outbox_key=f"reminder-{n}",
            )
        )
    session.commit()

    samples = scrape(client)
    pending = session.query(OutboxMessage).filter_by(status="pending").count()
    assert value(samples, "ews_outbox_messages", status="pending") == pending
    assert (
        value(samples, "ews_outbox_messages", status="pending")
        - value(before, "ews_outbox_messages", status="pending")
        == 2
    )
    assert value(samples, "ews_outbox_messages", status="failed") == 1
    assert value(samples, "ews_outbox_oldest_pending_seconds") >= 0
    number = str(cohort.number)
    assert value(samples, "ews_reminders_sent", cohort=number, offset_days="14") == 2
    assert value(samples, "ews_reminders_sent", cohort=number, offset_days="3") == 1


def test_paths_with_secrets_are_recorded_as_their_route_pattern(client, db):
    secret = "Geheim0123456789abcdef"
    client.get(f"/verify/{secret}")
    client.get(f"/unsubscribe/{secret}")
    text = client.get("/metrics").get_data(as_text=True)
    assert secret not in text
    assert 'route="/verify/<code>"' in text


@pytest.mark.parametrize("environment", ["development", "production"])
def test_a_metrics_token_is_required_when_configured(environment, app, production_app, db, monkeypatch):
    served = production_app if environment == "production" else app
    monkeypatch.setattr(served.extensions["ews"].settings, "metrics_token", "scrape-token-0123456789")
    client = served.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2NyYXBlOnRva2Vu"}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert "ews_http_requests_total" not in refused.get_data(as_text=True)
    samples = scrape(client, Authorization="Bearer scrape-token-0123456789")
    assert any(name == "ews_http_requests_total" for name, _labels in samples)


def test_metrics_are_not_public_in_production_without_a_token(app, production_app, db):
    assert production_app.extensions["ews"].settings.metrics_token is None
    hidden = production_app.test_client().get("/metrics")
    assert hidden.status_code == 404
    assert "ews_http_requests_total" not in hidden.get_data(as_text=True)
    assert app.extensions["ews"].settings.metrics_token is None
    assert app.test_client().get("/metrics").status_code == 200  # development: open without a token


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())
        self.addFilter(ContextFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def json_lines():
    handler = _Lines()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(previous)


def test_the_access_log_is_json_with_the_request_id_the_audit_event_stores(
    client, session, factory, reviewed, json_lines
):
    token = token_for(session, factory, "coordinator")
    case = reviewed[0]
    response = client.post(
        f"/api/v1/cases/{case.id}/transitions",
        json={"name": "admit", "version": case.version},
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "trace-4711"},
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "trace-4711"

    entries = [json.loads(line) for line in json_lines]  # every line is one JSON object
    access = [e for e in entries if e["logger"] == "ews.access"]
    assert len(access) == 1
    (entry,) = access
    assert entry["request_id"] == "trace-4711"
    assert entry["method"] == "POST"
    assert entry["route"] == "/api/v1/cases/<int:case_id>/transitions"
    assert entry["status"] == 200
    assert entry["duration_ms"] > 0
    assert entry["level"] == "INFO"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])

    history = client.get(
        f"/api/v1/cases/{case.id}/history",
        headers={"Authorization": f"Bearer {token_for(session, factory, 'auditor')}"},
    ).get_json()
    assert history["items"][-1]["request_id"] == "trace-4711"


def test_an_assigned_request_id_is_logged_and_returned(client, db, json_lines):
    response = client.get("/api/v1/health")
    rid = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    access = [json.loads(line) for line in json_lines if '"ews.access"' in line]
    assert [e["request_id"] for e in access] == [rid]


def test_exceptions_are_logged_as_one_json_object(json_lines):
    try:
        raise RuntimeError("kaputt")
    except RuntimeError:
        logging.getLogger("ews.test").exception("Fehler %s", "A", extra={"case_id": 7})
    (line,) = json_lines
    entry = json.loads(line)
    assert entry["message"] == "Fehler A"
    assert entry["level"] == "ERROR"
    assert entry["case_id"] == 7
    assert "RuntimeError: kaputt" in entry["exception"]


def test_production_logs_json_and_development_text():
    assert Settings(env="production", secret_key="x" * 40).log_format == "json"
    assert Settings(env="development").log_format == "text"
    assert Settings(env="development", log_format="json").log_format == "json"
    config = logging_config(Settings(env="production", secret_key="x" * 40))
    assert config["formatters"]["main"]["()"] is JsonFormatter
    assert config["loggers"]["gunicorn.access"]["propagate"] is False


def test_a_transition_logs_one_access_line_not_the_state_machine_library_chatter(
    client, session, factory, reviewed, json_lines
):
    """The transitions library logs each state entered and left at INFO; our configuration keeps its
    warnings only (the audit trail records the transition, with case and actor)."""
    library = logging.getLogger("transitions")
    previous = library.level
    config = logging_config(Settings(env="production", secret_key="x" * 40))
    logging.config.dictConfig({"version": 1, "incremental": True, "loggers": config["loggers"]})
    try:
        token = token_for(session, factory, "coordinator")
        case = reviewed[0]
        response = client.post(
            f"/api/v1/cases/{case.id}/transitions",
            json={"name": "admit", "version": case.version},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200
        assert [json.loads(line)["logger"] for line in json_lines] == ["ews.access"]
        assert library.isEnabledFor(logging.WARNING)
    finally:
        library.setLevel(previous)
