"""Pages people decide on (issue 14): the reviews on the office's case page (scores, mean, disagreement,
rank), the confirmation step of consequential actions, the messages after them, and the waitlist that
moves when a place frees up — driven through the Flask test client."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from ews_cases.models import AuditEvent, Case, Cohort, OutboxMessage, User
from ews_cases.models.review import CRITERIA
from ews_cases.services import users
from ews_cases.services.reviews import record_review
from testkit.factories import ATTENDORN, BONN, DUESSELDORF, FINNENTROP, OLPE_KREIS, SYSTEM, Factory
from tests.web.helpers import csrf_token, login, post_form
from workflows import TRANSITIONS, State

PASSWORD = "Entscheiden-2027-sicher"
GOOD = {"need": 4, "strategy": 3, "leadership": 5, "capacity": 4, "network": 3}  # mean 3,8
WEAK = {"need": 3, "strategy": 1, "leadership": 4, "capacity": 3, "network": 3}  # mean 2,8
BEST = dict.fromkeys(CRITERIA, 5)
NEAR = {"need": 5, "strategy": 4, "leadership": 5, "capacity": 5, "network": 4}  # mean 4,6


def text_of(response) -> str:
    """The page as text: tags removed, entities decoded, whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def fresh(session):
    """See what the requests committed."""
    session.commit()
    session.expire_all()
    return session


def snapshot(session, case: Case) -> tuple[str, int, int, int]:
    """State and version of the case, and how many audit events and emails exist."""
    fresh(session)
    stored = session.get(Case, case.id)
    return (
        stored.state,
        stored.version,
        session.scalar(select(func.count()).select_from(AuditEvent)),
        session.scalar(select(func.count()).select_from(OutboxMessage)),
    )


def reviewer(session, name: str) -> User:
    email = f"{name.split()[-1].lower()}@gutachten.example"
    return users.create_user(session, SYSTEM, email=email, name=name, role="reviewer", password=PASSWORD)


def reviewed(
    factory: Factory, cohort: Cohort, ags: str, *reviews: tuple[User, dict[str, int], str, str]
) -> Case:
    """A submitted case reviewed by these (reviewer, scores, recommendation, comment)."""
    case = factory.case(cohort, ags, state=State.SUBMITTED)
    for who, scores, recommendation, comment in reviews:
        record_review(
            factory.session, case, who, scores=scores, recommendation=recommendation, comment=comment
        )
    assert case.state == State.REVIEWED
    return case


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def office(client, session, factory):
    user = factory.user("coordinator", password=PASSWORD)
    session.commit()
    login(client, user.email, PASSWORD)
    return client


@pytest.fixture
def town(app, session, factory):
    """A second browser: an applicant of Finnentrop."""
    user = factory.user("applicant", FINNENTROP, password=PASSWORD)
    session.commit()
    other = app.test_client()
    login(other, user.email, PASSWORD)
    return other


@pytest.fixture
def panel(session):
    """Two named reviewers."""
    return reviewer(session, "Dr. Jonas Gutachter"), reviewer(session, "Prof. Lena Expertin")


# -- the office's case page: reviews, mean, disagreement, rank -----------------------------------------------
def test_the_office_sees_every_review_with_scores_mean_recommendation_comment_and_rank(
    office, session, factory, panel
):
    jonas, lena = panel
    cohort = factory.cohort(capacity=3)
    better = reviewed(factory, cohort, ATTENDORN, (jonas, BEST, "admit", ""), (lena, BEST, "admit", ""))
    case = reviewed(
        factory,
        cohort,
        FINNENTROP,
        (jonas, GOOD, "admit", "Klare Ziele, starker Rückhalt."),
        (lena, GOOD, "admit", "Gut vernetzt."),
    )
    session.commit()
    response = office.get(f"/faelle/{case.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    text = text_of(response)
    rows = re.findall(r'<tr data-review="\d+">(.*?)</tr>', page, re.DOTALL)
    assert len(rows) == 2
    for row, name in zip(rows, ("Dr. Jonas Gutachter", "Prof. Lena Expertin"), strict=True):
        assert name in row
        scores = dict(re.findall(r'data-score="(\w+)">(\d)<', row))
        assert scores == {c: str(v) for c, v in GOOD.items()}
        assert re.search(r"data-review-mean>3,8<", row)
        assert 'data-recommendation="admit">Zulassen<' in row
    for label in ("Bedarf", "Strategie", "Rückhalt der Verwaltungsspitze", "Kapazität", "Vernetzung"):
        assert f">{label}</th>" in page
    assert re.search(r'data-figure="mean">3,8<', page)
    assert "Klare Ziele, starker Rückhalt." in text
    assert "Gut vernetzt." in text
    # Second in the cohort: `better` has the higher mean. The rule is written beside the rank.
    assert re.search(r'data-figure="rank">2<', page)
    assert "nach mittlerer Punktzahl, dann Eingangsreihenfolge" in text
    assert "freie Plätze: 3 von 3" in text
    assert "data-disagreement" not in page
    assert re.search(r'data-figure="rank">1<', office.get(f"/faelle/{better.id}").get_data(as_text=True))


@pytest.mark.parametrize(
    ("second", "recommendation", "expected", "absent"),
    [
        (GOOD, "reject", ["Empfehlungen: Zulassen, Ablehnen"], ["Punkte Abstand"]),
        (WEAK, "admit", ["Strategie: 2 Punkte Abstand"], ["Empfehlungen:", "Bedarf:"]),  # 3 vs 1; need 4 vs 3
        ({**GOOD, "need": 3, "network": 4}, "admit", None, []),  # one point apart: they agree
    ],
)
def test_a_line_says_when_the_reviewers_disagree(
    office, session, factory, panel, second, recommendation, expected, absent
):
    jonas, lena = panel
    case = reviewed(
        factory, factory.cohort(), FINNENTROP, (jonas, GOOD, "admit", ""), (lena, second, recommendation, "")
    )
    session.commit()
    page = office.get(f"/faelle/{case.id}").get_data(as_text=True)
    line = re.search(r"<div [^>]*data-disagreement>(.*?)</div>", page, re.DOTALL)
    if expected is None:
        assert line is None
        return
    assert line is not None
    said = " ".join(unescape(re.sub(r"<[^>]+>", " ", line.group(1))).split())
    assert said.startswith("Die Gutachten weichen voneinander ab:")
    for words in expected:
        assert words in said
    for words in absent:
        assert words not in said


def test_reviews_stay_hidden_from_applicants_and_a_reviewer_sees_only_their_own(
    client, town, session, factory, panel
):
    jonas, lena = panel
    case = reviewed(
        factory, factory.cohort(), FINNENTROP, (jonas, GOOD, "admit", "Intern"), (lena, WEAK, "reject", "")
    )
    session.commit()
    applicant_page = town.get(f"/faelle/{case.id}").get_data(as_text=True)
    for internal in ("data-review=", "Begutachtung", "Intern", 'data-figure="rank"', "Version", "<textarea"):
        assert internal not in applicant_page, internal

    login(client, jonas.email, PASSWORD)
    page = client.get(f"/faelle/{case.id}").get_data(as_text=True)
    assert len(re.findall(r'<tr data-review="\d+">', page)) == 1
    assert "Dr. Jonas Gutachter" in page
    assert "Prof. Lena Expertin" not in page
    assert 'data-figure="mean"' not in page
    assert 'data-figure="rank"' not in page
    assert "data-disagreement" not in page  # a disagreement would tell of the other review


# -- the confirmation step -------------------------------------------------------------------------------------
def test_admitting_asks_for_confirmation_and_a_post_without_it_changes_nothing(office, session, factory):
    cohort = factory.cohort(capacity=2)
    case = factory.case(cohort, FINNENTROP, state=State.REVIEWED)
    session.commit()
    page = office.get(f"/faelle/{case.id}").get_data(as_text=True)
    # The case page's button opens the confirmation page with GET; it fires nothing.
    form = re.search(
        r'<form method="get" action="([^"]+)"[^>]*>\s*<input type="hidden" name="version" value="(\d+)">'
        r'\s*<button[^>]*data-transition="admit"',
        page,
    )
    assert form is not None
    assert form.group(1) == f"/faelle/{case.id}/aktion/admit/bestaetigen"

    response = office.get(f"{form.group(1)}?version={form.group(2)}")
    assert response.status_code == 200
    text = text_of(response)
    assert "Bitte bestätigen: Zulassen" in text
    assert (
        f"Die Bewerbung {case.reference} (Finnentrop, Testdurchgang) wechselt von „Begutachtet“ zu „Zugelassen“."
        in text
    )
    assert "einen der 2 Plätze des Durchgangs; danach sind noch 1 frei" in text
    # Who is emailed: the same recipients as the effect (contact person and team), with the letter's subject.
    assert (
        "Ansprechperson und Entwicklungsteam (kontakt@example.org, person1@example.org, person2@example.org)"
        in text
    )
    assert "„Zulassung zur Testdurchgang“" in text  # the letter's subject, as it will be sent
    assert "endgültig" not in text  # admitting is not a final state
    html = response.get_data(as_text=True)
    assert re.search(
        r'<button type="submit" class="btn btn-primary" data-confirm="admit">Zulassen</button>', html
    )
    assert "<textarea" not in html  # no reason needed

    before = snapshot(session, case)
    token = csrf_token(html)
    response = office.post(
        f"/faelle/{case.id}/aktion", data={"csrf_token": token, "name": "admit", "version": case.version}
    )
    assert response.status_code == 200
    assert "Bitte bestätigen: Zulassen" in text_of(response)
    assert snapshot(session, case) == before

    response = office.post(
        f"/faelle/{case.id}/aktion",
        data={"csrf_token": token, "name": "admit", "version": case.version, "confirmed": "ja"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/faelle/{case.id}"
    assert fresh(session).get(Case, case.id).state == State.ADMITTED
    message = text_of(office.get(response.headers["Location"]))
    assert (
        f"Die Bewerbung {case.reference} wurde zugelassen. Die Kommune wird per E-Mail benachrichtigt."
        in message
    )


def test_rejecting_asks_for_the_reason_on_the_confirmation_page(office, session, factory):
    case = factory.case(factory.cohort(), FINNENTROP, state=State.REVIEWED)
    session.commit()
    case_page = office.get(f"/faelle/{case.id}").get_data(as_text=True)
    assert "<textarea" not in case_page  # the reason is asked on the confirmation page
    assert re.search(r'class="btn btn-sm btn-outline-danger" data-transition="reject"', case_page)
    assert re.search(r'class="btn btn-sm btn-primary" data-transition="admit"', case_page)

    url = f"/faelle/{case.id}/aktion/reject/bestaetigen?version={case.version}"
    page = office.get(url)
    html = page.get_data(as_text=True)
    assert "Dieser Schritt ist endgültig und kann nicht rückgängig gemacht werden." in text_of(page)
    assert 'class="btn btn-danger" data-confirm="reject"' in html
    assert re.search(r'<textarea[^>]*id="reason" name="reason"[^>]*required', html)

    before = snapshot(session, case)
    data = {"name": "reject", "version": case.version, "confirmed": "ja", "reason": "  "}
    response = post_form(office, f"/faelle/{case.id}/aktion", data, form_page=url)
    assert response.status_code == 422
    error = re.search(
        r'<div id="reason-fehler" class="invalid-feedback d-block">([^<]*)</div>',
        response.get_data(as_text=True),
    )
    assert error
    assert "Bitte geben Sie eine Begründung an." in error.group(1)
    assert snapshot(session, case) == before

    data["reason"] = "Der Rückhalt der Verwaltungsspitze fehlt."
    response = post_form(office, f"/faelle/{case.id}/aktion", data, form_page=url)
    assert response.status_code == 303
    assert fresh(session).get(Case, case.id).state == State.REJECTED
    assert (
        f"Die Bewerbung {case.reference} wurde abgelehnt. Die Kommune erhält die Begründung per E-Mail."
        in text_of(office.get(f"/faelle/{case.id}"))
    )
    letter = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "explain_rejection"))
    assert "Der Rückhalt der Verwaltungsspitze fehlt." in letter.body


def test_an_applicant_withdraws_through_a_confirmation_in_danger_style_without_internal_fields(
    town, session, factory
):
    case = factory.case(factory.cohort(), FINNENTROP, state=State.SUBMITTED)
    session.commit()
    page = town.get(f"/faelle/{case.id}").get_data(as_text=True)
    assert re.search(r'class="btn btn-sm btn-outline-danger" data-transition="withdraw"', page)
    assert "Version" not in text_of(town.get(f"/faelle/{case.id}"))
    assert "<textarea" not in page

    url = f"/faelle/{case.id}/aktion/withdraw/bestaetigen?version={case.version}"
    response = town.get(url)
    html = response.get_data(as_text=True)
    text = text_of(response)
    assert "Bitte bestätigen: Bewerbung zurückziehen" in text
    assert "Dieser Schritt ist endgültig" in text
    assert f"Ansprechperson (kontakt@example.org): „Bewerbung {case.reference} zurückgezogen“" in text
    assert 'class="btn btn-danger" data-confirm="withdraw"' in html
    assert "<textarea" not in html
    assert 'name="override"' not in html
    assert "Version" not in text

    before = snapshot(session, case)
    response = post_form(
        town, f"/faelle/{case.id}/aktion", {"name": "withdraw", "version": case.version}, form_page=url
    )
    assert response.status_code == 200  # the confirmation page again: nothing happened
    assert snapshot(session, case) == before

    data = {"name": "withdraw", "version": case.version, "confirmed": "ja"}
    response = post_form(town, f"/faelle/{case.id}/aktion", data, form_page=url)
    assert response.status_code == 303
    assert fresh(session).get(Case, case.id).state == State.WITHDRAWN
    assert (
        f"Die Bewerbung {case.reference} wurde zurückgezogen. Die Ansprechperson erhält eine Bestätigung per E-Mail."
        in text_of(town.get(response.headers["Location"]))
    )


def test_refusals_on_the_confirmation_step_are_german_and_change_nothing(office, client, session, factory):
    cohort = factory.cohort(capacity=1)
    factory.case(cohort, ATTENDORN, state=State.ADMITTED)
    case = factory.case(cohort, FINNENTROP, state=State.REVIEWED)
    auditor = factory.user("auditor", password=PASSWORD)
    session.commit()
    # A guard: no place left. The confirmation page says why and offers no button to fire it.
    response = office.get(f"/faelle/{case.id}/aktion/admit/bestaetigen")
    assert response.status_code == 200
    assert "Alle 1 Plätze des Durchgangs sind vergeben." in text_of(response)
    assert 'data-confirm="admit"' not in response.get_data(as_text=True)
    # A transition the state does not allow: back to the case page, with the reason.
    response = office.get(f"/faelle/{case.id}/aktion/start/bestaetigen")
    assert response.status_code == 303
    assert "Im Status „Begutachtet“ ist „Teilnahme beginnen“ nicht möglich." in text_of(
        office.get(response.headers["Location"])
    )
    assert office.get(f"/faelle/{case.id}/aktion/erfunden/bestaetigen").status_code == 404
    # A stale version: refused with the reason, nothing changes.
    before = snapshot(session, case)
    data = {"name": "withdraw", "version": case.version - 1, "confirmed": "ja"}
    response = post_form(office, f"/faelle/{case.id}/aktion", data, form_page=f"/faelle/{case.id}")
    assert response.status_code == 303
    assert "Die Bewerbung wurde inzwischen geändert" in text_of(office.get(response.headers["Location"]))
    assert snapshot(session, case) == before
    # An auditor may not even open the confirmation page.
    login(client, auditor.email, PASSWORD)
    assert client.get(f"/faelle/{case.id}/aktion/reject/bestaetigen").status_code == 403


def test_a_confirmation_opened_on_an_older_version_says_the_case_changed(office, session, factory):
    case = factory.case(factory.cohort(), FINNENTROP, state=State.REVIEWED)
    session.commit()
    text = text_of(office.get(f"/faelle/{case.id}/aktion/reject/bestaetigen?version={case.version - 1}"))
    assert "Die Bewerbung wurde geändert, seit Sie sie geöffnet haben." in text


def test_a_region_override_is_asked_with_its_reason_on_the_confirmation_page(office, session, factory):
    cohort = factory.cohort(region="Köln")  # Finnentrop is in Regierungsbezirk Arnsberg
    case = factory.case(cohort, FINNENTROP)
    session.commit()
    page = office.get(f"/faelle/{case.id}").get_data(as_text=True)
    assert re.search(r'<form method="get" action="/faelle/\d+/aktion/submit/bestaetigen"', page)
    url = f"/faelle/{case.id}/aktion/submit/bestaetigen"
    html = office.get(url).get_data(as_text=True)
    assert 'name="override"' in html
    assert 'name="reason"' in html
    data = {"name": "submit", "version": case.version, "confirmed": "ja", "override": "y", "reason": ""}
    response = post_form(office, f"/faelle/{case.id}/aktion", data, form_page=url)
    assert response.status_code == 422
    assert "Eine Ausnahme ist nur mit Begründung möglich." in text_of(response)
    data["reason"] = "Partnerkommune im Nachbarbezirk"
    response = post_form(office, f"/faelle/{case.id}/aktion", data, form_page=url)
    assert response.status_code == 303
    assert fresh(session).get(Case, case.id).state == State.SUBMITTED


def test_every_transition_has_its_message_and_every_reason_is_asked_on_a_confirmation_page():
    for spec in TRANSITIONS:
        assert "{ref}" in spec.done, spec.name
        assert spec.done.count(". ") == 1, spec.name  # what happened, then who is told
        if spec.requires_reason:
            assert spec.confirm, spec.name
    assert {s.name for s in TRANSITIONS if s.confirm} >= {"admit", "reject", "withdraw", "drop_out"}


def test_a_transition_without_confirmation_says_what_happened(office, session, factory):
    case = factory.case(factory.cohort(), FINNENTROP, state=State.REVIEWED)
    session.commit()
    data = {"name": "waitlist", "version": case.version}
    response = post_form(office, f"/faelle/{case.id}/aktion", data, form_page=f"/faelle/{case.id}")
    assert response.status_code == 303
    text = text_of(office.get(response.headers["Location"]))
    assert (
        f"Die Bewerbung {case.reference} steht jetzt auf der Warteliste. Die Ansprechperson wird per E-Mail "
        "benachrichtigt." in text
    )
    assert "Erledigt" not in text


# -- the waitlist that moves ------------------------------------------------------------------------------------
@pytest.fixture
def full_cohort(session, factory, panel):
    """Capacity 2, both places taken; on the waitlist Olpe (3,8) and Düsseldorf (4,6, the top of the list),
    and Bonn reviewed but not yet decided (5,0: first in the ranking, but not on the waitlist)."""
    jonas, lena = panel
    cohort = factory.cohort(title="7. Entwicklungswerkstatt", capacity=2)
    admitted = factory.case(cohort, FINNENTROP, state=State.ADMITTED)
    factory.case(cohort, ATTENDORN, state=State.ADMITTED)
    olpe = reviewed(factory, cohort, OLPE_KREIS, (jonas, GOOD, "waitlist", ""), (lena, GOOD, "waitlist", ""))
    top = reviewed(factory, cohort, DUESSELDORF, (jonas, NEAR, "admit", ""), (lena, NEAR, "admit", ""))
    for case in (olpe, top):
        factory.fire(case, "waitlist")
    reviewed(factory, cohort, BONN, (jonas, BEST, "admit", ""), (lena, BEST, "admit", ""))
    session.commit()
    return {"cohort": cohort, "admitted": admitted, "top": top, "olpe": olpe}


def proposal(page: str) -> str | None:
    found = re.search(r'<section [^>]*id="vorschlag" data-proposal="([^"]+)"', page)
    return found.group(1) if found else None


def test_a_withdrawal_in_a_full_cohort_proposes_the_top_waitlisted_case_and_it_can_be_admitted(
    office, session, factory, full_cohort
):
    cohort, admitted, top = full_cohort["cohort"], full_cohort["admitted"], full_cohort["top"]
    dashboard = f"/programm?durchgang={cohort.number}"
    assert proposal(office.get(dashboard).get_data(as_text=True)) is None  # full: nothing to propose

    # The coordinator's confirmation page already names who the freed place goes to.
    url = f"/faelle/{admitted.id}/aktion/withdraw/bestaetigen?version={admitted.version}"
    text = text_of(office.get(url))
    assert "Ein Platz des Durchgangs wird frei; danach sind 1 von 2 Plätzen frei." in text
    assert (
        "Als Nächste steht auf der Warteliste (nach mittlerer Punktzahl, dann Eingangsreihenfolge): "
        f"{top.reference}, Düsseldorf, mittlere Punktzahl 4,6." in text
    )
    assert "Programmbüro (2 Person(en))" in text  # the test's coordinator and the factory's
    data = {"name": "withdraw", "version": admitted.version, "confirmed": "ja"}
    assert post_form(office, f"/faelle/{admitted.id}/aktion", data, form_page=url).status_code == 303

    # The coordinators' email names the proposed case: reference, municipality, mean score.
    letters = (
        fresh(session).scalars(select(OutboxMessage).where(OutboxMessage.kind == "announce_free_place")).all()
    )
    assert len(letters) == 2
    for letter in letters:
        assert f"{top.reference}, Düsseldorf, mittlere Punktzahl 4,6" in letter.body
        assert f"http://ews.test/programm?durchgang={cohort.number}" in letter.body

    page = office.get(dashboard)
    html = page.get_data(as_text=True)
    assert proposal(html) == top.reference
    section = text_of_fragment(html, "vorschlag")
    assert "Freie Plätze: 1." in section
    assert "nach mittlerer Punktzahl, dann Eingangsreihenfolge" in section
    assert "mittlere Punktzahl 4,6" in section
    assert "Rang 2" in section  # Bonn (reviewed, 5,0) ranks first
    # One action: the same confirmation step as every admission, and back to the dashboard.
    action = re.search(
        r'<form method="get" action="(/faelle/\d+/aktion/admit/bestaetigen)">\s*'
        r'<input type="hidden" name="version" value="(\d+)">\s*'
        r'<input type="hidden" name="weiter" value="([^"]+)">',
        html,
    )
    assert action
    assert action.group(1) == f"/faelle/{top.id}/aktion/admit/bestaetigen"
    confirm_url = f"{action.group(1)}?version={action.group(2)}&weiter={unescape(action.group(3))}"
    confirmation = office.get(confirm_url).get_data(as_text=True)
    assert f'<input type="hidden" name="next" value="{action.group(3)}">' in confirmation
    data = {"name": "admit", "version": action.group(2), "confirmed": "ja", "next": unescape(action.group(3))}
    response = post_form(office, f"/faelle/{top.id}/aktion", data, form_page=confirm_url)
    assert response.status_code == 303
    assert response.headers["Location"] == dashboard
    assert fresh(session).get(Case, top.id).state == State.ADMITTED
    after = office.get(dashboard)
    assert proposal(after.get_data(as_text=True)) is None  # full again
    assert f"Die Bewerbung {top.reference} wurde zugelassen." in text_of(after)


def text_of_fragment(html: str, section_id: str) -> str:
    found = re.search(rf'<section [^>]*id="{section_id}"[^>]*>(.*?)</section>', html, re.DOTALL)
    assert found, section_id
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def test_an_applicant_withdrawing_an_admitted_case_learns_nothing_of_the_ranking(
    town, session, factory, full_cohort
):
    admitted = full_cohort["admitted"]
    text = text_of(town.get(f"/faelle/{admitted.id}/aktion/withdraw/bestaetigen"))
    assert "Ein Platz des Durchgangs wird frei" in text
    assert full_cohort["top"].reference not in text
    assert "Warteliste" not in text
    assert "Programmbüro (1 Person(en))" in text  # the factory's coordinator, told of the free place
    assert "@example.org)" not in text.split("Programmbüro", 1)[1]  # but not by address


def test_a_raised_capacity_brings_the_same_proposal(office, session, factory, full_cohort):
    cohort = full_cohort["cohort"]
    from tests.web.test_office_pages import cohort_form

    response = post_form(
        office, f"/programm/durchgaenge/{cohort.number}/bearbeiten", cohort_form(cohort, capacity=3)
    )
    assert response.status_code == 303
    assert (
        proposal(office.get(response.headers["Location"]).get_data(as_text=True))
        == full_cohort["top"].reference
    )


def test_the_dashboard_shows_the_rank_and_the_rule(office, session, factory, full_cohort):
    page = office.get(f"/programm?durchgang={full_cohort['cohort'].number}").get_data(as_text=True)
    ranks = {ref: int(rank) for ref, rank in re.findall(r'data-rank="([^"]+)">(\d+)<', page)}
    top, olpe = full_cohort["top"].reference, full_cohort["olpe"].reference
    assert (ranks[top], ranks[olpe], sorted(ranks.values())) == (2, 3, [1, 2, 3])
    assert "Rangfolge für die Zulassung: nach mittlerer Punktzahl, dann Eingangsreihenfolge" in page
