"""`/konto/pruefpunkte`: an auditor switches the checkpoint mail on and off; other roles may not."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ews_cases.models import AuditEvent, User
from tests.web.helpers import csrf_token, login

PASSWORD = "Pruefpunkt-Passwort-7"
PAGE = "/konto/pruefpunkte"


@pytest.fixture
def client(app):
    return app.test_client()


def subscribed_since(session, user: User):
    session.commit()  # a fresh snapshot: the request committed in its own session
    session.expire_all()
    return session.get(User, user.id).checkpoint_mail_since


def switch(client, value: str):
    return client.post(PAGE, data={"subscribed": value, "csrf_token": csrf_token(client.get(PAGE))})


def test_an_auditor_switches_the_checkpoint_mail_on_and_off(client, session, factory):
    auditor = factory.user("auditor", password=PASSWORD)
    session.commit()
    login(client, auditor.email, PASSWORD)
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Sie erhalten bisher keine Prüfpunkte per E-Mail." in html
    assert f'href="{PAGE}"' in html  # the account links of the navigation

    answer = switch(client, "on")
    assert answer.status_code == 303
    assert subscribed_since(session, auditor) is not None
    html = client.get(PAGE).get_data(as_text=True)
    assert "Sie erhalten ab jetzt jeden neuen Prüfpunkt per E-Mail." in html
    assert f"Jeder neue Prüfpunkt geht an {auditor.email}" in html

    assert switch(client, "off").status_code == 303
    assert subscribed_since(session, auditor) is None
    assert "Sie erhalten keine Prüfpunkte mehr per E-Mail." in client.get(PAGE).get_data(as_text=True)
    actions = session.scalars(
        select(AuditEvent.data).where(AuditEvent.action == "user.checkpoint_mail").order_by(AuditEvent.id)
    ).all()
    assert actions == [{"user": auditor.id, "subscribed": True}, {"user": auditor.id, "subscribed": False}]

    assert switch(client, "maybe").status_code == 422
    assert subscribed_since(session, auditor) is None


@pytest.mark.parametrize("role", ["coordinator", "reviewer"])
def test_other_roles_have_no_checkpoint_mail(client, session, factory, role):
    user = factory.user(role, password=PASSWORD)
    session.commit()
    login(client, user.email, PASSWORD)
    assert client.get(PAGE).status_code == 403
    assert PAGE not in client.get("/hilfe").get_data(as_text=True)
    count = session.scalar(select(func.count()).select_from(AuditEvent))
    token = csrf_token(client.get("/passwort"))
    assert client.post(PAGE, data={"subscribed": "on", "csrf_token": token}).status_code == 403
    session.commit()
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == count


def test_without_login_the_page_leads_to_the_login(client, db):
    assert client.get(PAGE).status_code == 302
