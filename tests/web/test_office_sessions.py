"""The programme office moves or cancels a session on its pages; the invitees' emails are queued with it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from ews_cases.models import AuditEvent, CohortSession, OutboxMessage
from tests.web.helpers import post_form
from tests.web.test_office_pages import (  # noqa: F401 - fixtures
    attending,
    client,
    fresh,
    office,
    text_of,
    workshops_of,
)


def test_a_session_is_moved_and_then_cancelled_from_the_dashboard(office, session, attending):  # noqa: F811
    workshop = workshops_of(session, attending)[0]
    number = attending.cohort.number
    dashboard = office.get(f"/programm?durchgang={number}").get_data(as_text=True)
    url = f"/programm/durchgaenge/{number}/termine/{workshop.id}"
    assert f'href="{url}"' in dashboard
    assert office.get(url).status_code == 200

    data = {
        "title": workshop.title,
        "starts_at": "2027-09-22T10:00",
        "ends_at": "2027-09-22T09:00",
        "location": "Düsseldorf",
    }
    refused = post_form(office, url, data)
    assert refused.status_code == 422
    assert "Das Ende muss nach dem Beginn liegen." in text_of(refused)
    assert fresh(session).get(CohortSession, workshop.id).sequence == 0

    assert post_form(office, url, {**data, "ends_at": "2027-09-22T16:00"}).status_code == 303
    moved = fresh(session).get(CohortSession, workshop.id)
    assert (moved.location, moved.sequence) == ("Düsseldorf", 1)
    assert moved.starts_at == datetime(2027, 9, 22, 8, 0, tzinfo=UTC)
    updates = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "session_changed")).all()
    assert sorted(m.recipient for m in updates) == sorted(m.email for m in attending.team)

    response = post_form(office, f"{url}/absagen", {"reason": "Raum nicht verfügbar."}, form_page=url)
    assert response.status_code == 303
    cancelled = fresh(session).get(CohortSession, workshop.id)
    assert cancelled.cancelled_at is not None
    assert cancelled.sequence == 2
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("session.%"))).all()
    assert actions.count("session.updated") == 1
    assert actions.count("session.cancelled") == 1
    assert "abgesagt" in text_of(office.get(f"/programm?durchgang={number}"))
    assert "wurde am" in text_of(office.get(url))  # the page says it was cancelled, and offers no form
    again = post_form(
        office,
        f"{url}/absagen",
        {"reason": "Nochmal."},
        form_page=f"/programm/durchgaenge/{number}/termine/neu",
    )
    assert again.status_code == 422
    assert "bereits abgesagt" in text_of(again)


def test_an_unknown_session_is_404(office, session, attending):  # noqa: F811
    other = workshops_of(session, attending)[0]
    assert office.get(f"/programm/durchgaenge/{attending.cohort.number}/termine/999999").status_code == 404
    assert office.get(f"/programm/durchgaenge/999/termine/{other.id}").status_code == 404
