"""Where a salutation is entered: the application (service and API), contacts (API and `ews contacts import`)."""

from __future__ import annotations

import pytest

from ews_cases.cli.commands import _read_contacts_csv
from ews_cases.errors import ValidationFailed
from ews_cases.models import Contact
from ews_cases.services.cases import CaseInput, MemberInput, update_draft
from ews_cases.services.contacts import import_contacts
from testkit.factories import SYSTEM, complete_content
from tests.api.test_participation_api import token_for


def test_contacts_import_reads_an_optional_salutation_column(session, tmp_path):
    file = tmp_path / "kontakte.csv"
    file.write_text(
        "ags;name;email;salutation\n"
        "05962004;Petra Pohl;pohl@altena.example;Frau\n"
        "05962008;Kim Sommer;sommer@balve.example;\n"
        "05962012;Max Muster;muster@halver.example;Dr.\n",
        encoding="utf-8",
    )
    result = import_contacts(session, SYSTEM, _read_contacts_csv(file))
    assert [(c.name, c.salutation) for c in result.added] == [("Petra Pohl", "Frau"), ("Kim Sommer", "")]
    [skipped] = result.skipped
    assert (skipped.line, skipped.reason) == (
        4,
        "salutation: Bitte wählen Sie „Frau“, „Herr“ oder keine Anrede.",
    )
    # Without the column, as before: no salutation.
    file.write_text("ags,name,email\n05962016,Ola Offen,offen@hemer.example\n", encoding="utf-8")
    [added] = import_contacts(session, SYSTEM, _read_contacts_csv(file)).added
    assert added.salutation == ""


def test_the_api_takes_and_shows_a_contacts_salutation(app, session, factory):
    client = app.test_client()
    token = token_for(session, factory, "coordinator")
    created = client.post(
        "/api/v1/municipalities/05962004/contacts",
        json={"name": "Jonas Berg", "email": "berg@altena.example", "salutation": "Herr"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    assert created.json["salutation"] == "Herr"
    refused = client.post(
        "/api/v1/municipalities/05962004/contacts",
        json={"name": "X", "email": "x@altena.example", "salutation": "Mx"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 422
    assert "Frau" in refused.text
    assert session.query(Contact).filter_by(email="x@altena.example").count() == 0


def test_a_case_keeps_the_salutations_of_its_contact_person_and_team(session, factory):
    case = factory.case(factory.cohort())
    content = complete_content(case.cohort.team_size)
    team = [MemberInput("Jonas Berg", "berg@x.example", "Amt", "Herr"), *content.team[1:]]
    update_draft(
        session,
        case,
        factory.coordinator(),
        expected_version=case.version,
        content=CaseInput(
            contact_name="Anna Heide",
            contact_email="heide@x.example",
            contact_salutation="Frau",
            team=team,
            answers=content.answers,
            consent=True,
        ),
    )
    assert (case.contact_salutation, case.team[0].salutation, case.team[1].salutation) == ("Frau", "Herr", "")
    with pytest.raises(ValidationFailed) as refused:
        update_draft(
            session,
            case,
            factory.coordinator(),
            expected_version=case.version,
            content=CaseInput(contact_salutation="Mx", team=[MemberInput(salutation="Dame")]),
        )
    assert set(refused.value.errors) == {"contact.salutation", "team.0.salutation"}
