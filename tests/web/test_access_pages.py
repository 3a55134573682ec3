"""The access pages through the Flask test client: `/zugang/beantragen` (CSRF, limited per client address,
errors next to the fields) and `/programm/zugaenge` per role — the office acts, auditors only read,
applicants and reviewers are refused; confirming and declining through the page."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ews_cases.models import AccessRequest, Invitation
from ews_cases.services.access_requests import request_access
from testkit.factories import FINNENTROP
from tests.web.helpers import csrf_token, login

PASSWORD = "Richtig-Passwort-2025"
FORM = {
    "name": "Olga Olpe",
    "email": "olga@olpe.example",
    "municipality": "05966024",
    "position": "Ehrenamtsbüro",
    "message": "Wir möchten uns bewerben.",
}


@pytest.fixture
def client(app):
    return app.test_client()


def ask(client, data, address="198.51.100.7"):
    environ = {"REMOTE_ADDR": address}
    token = csrf_token(client.get("/zugang/beantragen", environ_base=environ))
    return client.post("/zugang/beantragen", data={**data, "csrf_token": token}, environ_base=environ)


def test_a_request_is_recorded_and_limited_per_address(client, session):
    page = client.get("/zugang/beantragen").get_data(as_text=True)
    assert "Finnentrop (Kreis Olpe) · 05966012" in page
    assert client.post("/zugang/beantragen", data=FORM).status_code == 400  # no CSRF token
    invalid = ask(client, {**FORM, "municipality": "", "email": "kein"})
    assert invalid.status_code == 422
    assert "Bitte wählen Sie Ihre Kommune aus der Liste." in invalid.get_data(as_text=True)
    done = ask(client, FORM)
    assert done.status_code == 200
    assert "Vielen Dank für Ihre Anfrage" in done.get_data(as_text=True)
    session.commit()
    assert [r.email for r in session.scalars(select(AccessRequest))] == ["olga@olpe.example"]
    for _ in range(3):
        assert ask(client, FORM).status_code == 200  # five per address and hour, the invalid one counted
    locked = ask(client, FORM)
    assert locked.status_code == 429
    assert "zu viele Anfragen nach einem Zugang" in locked.get_data(as_text=True)
    assert ask(client, FORM, address="198.51.100.8").status_code == 200  # another address is not limited


@pytest.mark.parametrize(
    ("role", "status", "acts"),
    [
        ("coordinator", 200, True),
        ("admin", 200, True),
        ("auditor", 200, False),
        ("applicant", 403, False),
        ("reviewer", 403, False),
    ],
)
def test_the_office_page_per_role(client, session, factory, role, status, acts):
    user = factory.user(role, FINNENTROP if role == "applicant" else None, password=PASSWORD)
    pending = request_access(
        session, name="Olga", email="olga@olpe.example", municipality_ags="05966024", position="Büro"
    )
    session.commit()
    login(client, user.email, PASSWORD)
    response = client.get("/programm/zugaenge")
    assert response.status_code == status
    page = response.get_data(as_text=True)
    if status == 200:
        assert "olga@olpe.example" in page
        assert ("Einladung senden" in page) is acts
        assert ("Bestätigen und einladen" in page) is acts
    token = csrf_token(client.get("/passwort"))
    posted = client.post(f"/programm/zugaenge/anfragen/{pending.id}/bestaetigen", data={"csrf_token": token})
    assert posted.status_code == (303 if acts else 403)
    session.expire_all()
    assert session.get(AccessRequest, pending.id).status == ("confirmed" if acts else "pending")
    session.commit()


def test_the_office_declines_with_a_reason_and_invites_through_the_page(client, session, factory):
    user = factory.user("coordinator", password=PASSWORD)
    pending = request_access(
        session, name="Olga", email="olga@olpe.example", municipality_ags="05966024", position="Büro"
    )
    session.commit()
    login(client, user.email, PASSWORD)
    token = csrf_token(client.get("/programm/zugaenge"))
    url = f"/programm/zugaenge/anfragen/{pending.id}/ablehnen"
    empty = client.post(url, data={"csrf_token": token, f"anfrage{pending.id}-reason": ""})
    assert empty.status_code == 422
    assert "Bitte geben Sie eine Begründung an." in empty.get_data(as_text=True)
    done = client.post(
        url, data={"csrf_token": token, f"anfrage{pending.id}-reason": "Olpe nimmt bereits teil."}
    )
    assert done.status_code == 303
    invited = client.post(
        "/programm/zugaenge/einladen",
        data={
            "csrf_token": token,
            "name": "Rita",
            "email": user.email,
            "role": "reviewer",
            "municipality": "",
        },
    )
    assert invited.status_code == 409  # the coordinator's own address has an account
    assert "bereits einen Zugang" in invited.get_data(as_text=True)
    session.expire_all()
    assert session.get(AccessRequest, pending.id).status == "declined"
    assert session.scalars(select(Invitation)).all() == []
