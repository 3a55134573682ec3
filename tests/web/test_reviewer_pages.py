"""The reviewer's pages: the queue (no conflicts of interest, nothing reviewed twice) and the review form."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from ews_cases.models import CRITERIA, RECOMMENDATIONS, Case, Review
from ews_cases.services.reviews import record_review
from ews_cases.web.review_forms import CRITERION_LABELS, RECOMMENDATION_LABELS, ReviewForm
from testkit.factories import ATTENDORN, BONN, DUESSELDORF, FINNENTROP, OLPE_KREIS
from tests.web.helpers import csrf_token, login
from workflows import State

PASSWORD = "Gutachten-Passwort-1"
SCORES = {"need": "4", "strategy": "3", "leadership": "5", "capacity": "2", "network": "1"}


def radio(page: str, element_id: str) -> str:
    found = re.search(rf'<input[^>]*id="{element_id}"[^>]*>', page)
    assert found, f"no input #{element_id}"
    return found.group(0)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def reviewer(session, factory):
    """A reviewer affiliated with Kreis Olpe: conflicted for Finnentrop and Attendorn."""
    user = factory.user("reviewer", OLPE_KREIS, password=PASSWORD)
    session.commit()
    return user


@pytest.fixture
def cases(session, factory, reviewer):
    cohort, other = factory.cohort(), factory.cohort()
    arranged = {
        "open": factory.case(cohort, DUESSELDORF, state=State.SUBMITTED),
        "conflict": factory.case(cohort, FINNENTROP, state=State.SUBMITTED),
        "conflict_kreis": factory.case(cohort, ATTENDORN, state=State.SUBMITTED),
        "reviewed_by_me": factory.case(cohort, BONN, state=State.SUBMITTED),
        "draft": factory.case(other, DUESSELDORF),
        "done": factory.case(other, BONN, state=State.REVIEWED),
    }
    record_review(
        session,
        arranged["reviewed_by_me"],
        reviewer,
        scores={"need": 1, "strategy": 1, "leadership": 1, "capacity": 1, "network": 1},
        recommendation="reject",
    )
    session.commit()
    return arranged


def review_count(session, case: Case) -> int:
    session.commit()
    return session.scalar(select(func.count()).select_from(Review).where(Review.case_id == case.id))


def state_of(session, case: Case) -> str:
    session.commit()
    return session.scalar(select(Case.state).where(Case.id == case.id))


def test_queue_lists_only_submitted_cases_without_conflict_and_not_yet_reviewed(client, reviewer, cases):
    login(client, reviewer.email, PASSWORD)
    response = client.get("/gutachten")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    queue = page.split('id="warteschlange"', 1)[1].split("</table>", 1)[0]
    listed = {int(n) for n in re.findall(r'data-case="(\d+)"', queue)}
    assert listed == {cases["open"].id}
    assert f'href="/gutachten/{cases["open"].id}"' in queue
    assert cases["open"].reference in queue
    # The case they already reviewed is listed under their own reviews, not in the queue.
    assert cases["reviewed_by_me"].reference in page.split('id="abgegeben"', 1)[1]


def test_conflicted_and_draft_cases_are_not_found(client, reviewer, cases):
    login(client, reviewer.email, PASSWORD)
    for key in ("conflict", "conflict_kreis", "draft"):
        assert client.get(f"/gutachten/{cases[key].id}").status_code == 404
        token = csrf_token(client.get("/gutachten").get_data(as_text=True))
        response = client.post(
            f"/gutachten/{cases[key].id}",
            data={**SCORES, "recommendation": "admit", "csrf_token": token},
        )
        assert response.status_code == 404


def test_review_page_shows_the_application_and_a_labelled_form(client, reviewer, cases):
    login(client, reviewer.email, PASSWORD)
    page = client.get(f"/gutachten/{cases['open'].id}").get_data(as_text=True)
    assert "Wir wollen Engagement stärken." in page
    assert "Bürgermeisterin Muster" in page
    legends = re.findall(r"<legend[^>]*>(.*?)</legend>", page, re.S)
    for label in (
        "Bedarf",
        "Strategie",
        "Rückhalt der Verwaltungsspitze",
        "Kapazität",
        "Vernetzung",
        "Empfehlung",
    ):
        assert any(label in legend for legend in legends), label
    for index, label in enumerate(("Zulassen", "Warteliste", "Ablehnen")):
        assert f'<label class="form-check-label" for="recommendation-{index}">{label}</label>' in page
    # Every radio button has its own label.
    radios = re.findall(r'<input[^>]*type="radio"[^>]*>', page)
    assert len(radios) == 5 * 6 + 3
    for element in radios:
        element_id = re.search(r'id="([^"]+)"', element).group(1)
        assert f'<label class="form-check-label" for="{element_id}">' in page
    assert '<label class="form-label" for="comment">' in page


def test_invalid_review_shows_german_errors_next_to_the_fields_and_keeps_the_values(
    client, session, reviewer, cases
):
    login(client, reviewer.email, PASSWORD)
    case = cases["open"]
    token = csrf_token(client.get(f"/gutachten/{case.id}").get_data(as_text=True))
    response = client.post(
        f"/gutachten/{case.id}",
        data={
            "need": "4",
            "leadership": "9",
            "capacity": "x",
            "network": "0",
            "comment": "Gut begründet",
            "csrf_token": token,
        },
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    for name in ("strategy", "leadership", "capacity"):
        errors = re.search(rf'<div id="{name}-fehler"[^>]*>(.*?)</div>', page, re.S)
        assert errors, name
        assert "Bitte wählen Sie einen Wert von 0 bis 5." in errors.group(1)
    recommendation = re.search(r'<div id="recommendation-fehler"[^>]*>(.*?)</div>', page, re.S)
    assert "Bitte wählen Sie eine Empfehlung" in recommendation.group(1)
    assert 'id="need-fehler"' not in page
    assert 'id="network-fehler"' not in page
    assert "checked" in radio(page, "need-4")
    assert "checked" in radio(page, "network-0")
    assert "checked" not in radio(page, "need-3")
    assert "Gut begründet</textarea>" in page
    assert "Not a valid" not in page
    assert "Invalid" not in page
    assert review_count(session, case) == 0
    assert state_of(session, case) == State.SUBMITTED


def test_a_review_is_recorded_and_the_second_moves_the_case_to_reviewed(
    client, session, factory, reviewer, cases
):
    case = cases["open"]
    record_review(
        session,
        case,
        factory.user("reviewer"),
        scores={"need": 3, "strategy": 3, "leadership": 3, "capacity": 3, "network": 3},
        recommendation="waitlist",
    )
    session.commit()
    login(client, reviewer.email, PASSWORD)
    token = csrf_token(client.get(f"/gutachten/{case.id}").get_data(as_text=True))
    response = client.post(
        f"/gutachten/{case.id}",
        data={**SCORES, "recommendation": "admit", "comment": "Überzeugend", "csrf_token": token},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/gutachten")
    assert state_of(session, case) == State.REVIEWED
    review = session.scalar(
        select(Review).where(Review.case_id == case.id, Review.reviewer_id == reviewer.id)
    )
    assert review.scores() == {name: int(value) for name, value in SCORES.items()}
    assert (review.recommendation, review.comment) == ("admit", "Überzeugend")
    queue = client.get("/gutachten").get_data(as_text=True)
    assert f"Ihr Gutachten zu {case.reference} ist gespeichert." in queue
    assert "vollständig begutachtet" in queue
    assert f'data-case="{case.id}"' not in queue


def test_the_first_review_keeps_the_case_submitted(client, session, reviewer, cases):
    case = cases["open"]
    login(client, reviewer.email, PASSWORD)
    token = csrf_token(client.get(f"/gutachten/{case.id}").get_data(as_text=True))
    response = client.post(
        f"/gutachten/{case.id}", data={**SCORES, "recommendation": "waitlist", "csrf_token": token}
    )
    assert response.status_code == 303
    assert state_of(session, case) == State.SUBMITTED
    assert review_count(session, case) == 1


def test_a_case_cannot_be_reviewed_twice_by_the_same_reviewer(client, session, reviewer, cases):
    case = cases["reviewed_by_me"]
    login(client, reviewer.email, PASSWORD)
    page = client.get(f"/gutachten/{case.id}").get_data(as_text=True)
    assert "Sie haben diese Bewerbung am" in page
    assert '<form method="post" novalidate action="/gutachten/' not in page
    token = csrf_token(page)
    response = client.post(
        f"/gutachten/{case.id}", data={**SCORES, "recommendation": "admit", "csrf_token": token}
    )
    assert response.status_code == 409
    assert review_count(session, case) == 1


def test_a_reviewed_case_is_readable_but_offers_no_form(client, reviewer, cases):
    login(client, reviewer.email, PASSWORD)
    page = client.get(f"/gutachten/{cases['done'].id}").get_data(as_text=True)
    assert "wartet nicht mehr auf Gutachten" in page
    assert 'name="recommendation"' not in page


@pytest.mark.parametrize("role", ["applicant", "coordinator", "auditor"])
def test_other_roles_cannot_open_the_reviewer_pages(client, session, factory, cases, role):
    user = factory.user(role, FINNENTROP if role == "applicant" else None, password=PASSWORD)
    session.commit()
    login(client, user.email, PASSWORD)
    assert client.get("/gutachten").status_code == 403
    assert client.get(f"/gutachten/{cases['open'].id}").status_code == 403


def test_the_queue_requires_login(client):
    response = client.get("/gutachten")
    assert response.status_code == 302
    assert "/anmelden" in response.headers["Location"]


def test_the_form_covers_every_criterion_and_recommendation(app):
    assert tuple(CRITERION_LABELS) == CRITERIA
    assert tuple(RECOMMENDATION_LABELS) == RECOMMENDATIONS
    with app.test_request_context():
        form = ReviewForm(meta={"csrf": False})
        assert [f.name for f in form.criteria()] == list(CRITERIA)
        assert [value for value, _label, *_rest in form.recommendation.iter_choices()] == list(
            RECOMMENDATIONS
        )
