"""Text the database cannot store is refused with a clear 400 before any handler runs, on every backend."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ews_cases.models import AuditEvent, Cohort
from ews_cases.services.users import issue_token
from testkit.factories import SYSTEM


@pytest.fixture
def coordinator_headers(session, factory):
    token = issue_token(session, SYSTEM, factory.user("coordinator"))
    session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("get", "/api/v1/cases?q=%00abc", {}),
        ("get", "/api/v1/municipalities?q=K%00ln", {}),
        (
            "post",
            "/api/v1/cohorts",
            {"json": {"number": 90, "title": "a\u0000b", "application_deadline": "2027-06-30"}},
        ),
        (
            "post",
            "/api/v1/cohorts",
            {
                "data": '{"number": 90, "title": "\\ud800", "application_deadline": "2027-06-30"}',
                "content_type": "application/json",
            },
        ),
    ],
)
def test_nul_and_lone_surrogates_are_refused_and_nothing_changes(
    app, session, coordinator_headers, method, path, kwargs
):
    events_before = session.scalar(select(func.count()).select_from(AuditEvent))
    response = getattr(app.test_client(), method)(path, headers=coordinator_headers, **kwargs)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert "nicht gespeichert werden" in response.get_json()["detail"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Cohort).where(Cohort.number == 90)) == 0
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == events_before
