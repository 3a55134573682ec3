"""Erasure requests (Art. 17) say what they erase and what they keep, and why (issue 17): one service function,
`erasure_plan`, computes both; `erase_person` carries it out and `ews privacy erase --email` prints it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ews_cases.audit.chain import verify_database
from ews_cases.errors import ValidationFailed
from ews_cases.i18n.formatting import de_date
from ews_cases.models import AuditEvent, Case, Certificate, TeamMember
from ews_cases.services.privacy import LEGAL_HOLD, erase_person, erasure_plan, set_legal_hold
from ews_cases.services.retention import PARTICIPATING, required_until
from testkit.factories import ATTENDORN, complete_content
from tests.test_cli_audit import ews
from workflows import State

TAG = "Rqv"
ADDRESS = f"person1{TAG}@example.org".lower()


@pytest.fixture
def two_cases(session, factory):
    """The same team member (ADDRESS) in a certified case of one cohort and a withdrawn one of another."""
    content = complete_content(2, TAG)
    certified = factory.case(factory.cohort(), content=content, state=State.CERTIFIED)
    withdrawn = factory.case(factory.cohort(), ATTENDORN, content=content, state=State.WITHDRAWN)
    session.commit()
    return certified, withdrawn


def member(case: Case) -> TeamMember:
    return next(m for m in case.team if m.slot == 1)


def test_the_plan_keeps_a_participating_case_under_the_ten_year_rule(app, session, two_cases):
    certified, withdrawn = two_cases
    with app.test_request_context(headers={"Accept-Language": "de"}):
        plan = erasure_plan(session, ADDRESS.upper())
        [kept] = plan.kept
        until = certified.cohort.ends_on + timedelta(days=round(10 * 365.25))
        assert (kept.reference, kept.category, kept.until) == (certified.reference, PARTICIPATING, until)
        assert plan.kept_lines() == [
            f"{certified.reference} (Teammitglied, E-Mails und Zertifikate dazu): Aufbewahrung für Prüfungen "
            f"der Fördermittel (10 Jahre nach Ende des Durchgangs), bis {de_date(until)}."
        ]
        erased = plan.erased_lines()
        assert erased[0].startswith(f"Teammitglied in {withdrawn.reference}: Anrede, Name, E-Mail-Adresse")
        assert not any(certified.reference in line for line in erased)
        assert any(line.startswith("Im Prüfprotokoll festgehaltene Angaben:") for line in erased)
    assert session.get(TeamMember, member(withdrawn).id).email.lower() == ADDRESS  # the plan changes nothing


def test_the_erasure_erases_what_is_not_required_and_keeps_the_rest(session, factory, two_cases):
    certified, withdrawn = two_cases
    coordinator = factory.coordinator()
    erasure = erase_person(session, ADDRESS, coordinator, reason="Antrag vom 02.01.2027")
    session.commit()
    assert erasure.plan is not None
    assert [k.reference for k in erasure.plan.kept] == [certified.reference]
    assert erasure.cases == [withdrawn.id]
    assert {m.email for m in session.get(Case, withdrawn.id).team} == {"", f"person2{TAG}@example.org"}
    kept_member = next(m for m in session.get(Case, certified.id).team if m.email.lower() == ADDRESS)
    assert kept_member.name == f"Person 1{TAG}"
    assert all(c.holder_name for c in session.scalars(select(Certificate)))  # the certified case's stay
    event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.action == "privacy.erased"
    assert event.data["cases"] == [withdrawn.id]
    assert event.data["kept"] == [
        {
            "case": certified.reference,
            "category": PARTICIPATING,
            "until": erasure.plan.kept[0].until.isoformat(),
        }
    ]
    assert verify_database(session).ok


def test_after_the_retention_period_nothing_is_kept(session, factory, two_cases):
    certified, _withdrawn = two_cases
    later = factory.now + timedelta(days=round(10 * 365.25) + 600)
    assert required_until(certified, factory.now) is not None
    assert required_until(certified, later) is None
    assert erasure_plan(session, ADDRESS, later).kept == []


def test_a_legal_hold_keeps_even_a_withdrawn_case(app, session, factory, two_cases):
    _certified, withdrawn = two_cases
    coordinator = factory.coordinator()
    set_legal_hold(session, withdrawn, coordinator, "Klage anhängig")
    session.commit()
    with app.app_context():
        plan = erasure_plan(session, ADDRESS)
        held = next(k for k in plan.kept if k.reference == withdrawn.reference)
        assert held.category == LEGAL_HOLD
        assert held.sentence().endswith("Aufbewahrungssperre (Klage anhängig), bis sie aufgehoben wird.")
    assert plan.members == []
    assert plan.contact_cases == []


def test_an_address_is_required(session, factory):
    with pytest.raises(ValidationFailed):
        erasure_plan(session, "keine-adresse")


def test_the_command_prints_what_it_erased_and_kept_in_german(database_url, two_cases):
    certified, withdrawn = two_cases
    result = ews(database_url, "privacy", "erase", "--email", ADDRESS, "--reason", "Antrag")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Gelöscht:" in result.stdout
    assert f"  - Teammitglied in {withdrawn.reference}: Anrede, Name" in result.stdout
    assert "Aufbewahrt:" in result.stdout
    assert (
        f"  - {certified.reference} (Teammitglied, E-Mails und Zertifikate dazu): Aufbewahrung"
        in result.stdout
    )
    assert " gespeicherte Werte gelöscht, " in result.stdout.splitlines()[-1]
