"""The account administration pages (`/verwaltung`) through the Flask test client: who reaches them (every
route × every role), search and pages, new accounts, role changes, deactivation that ends sessions and
stops tokens, tokens with expiry whose secret is shown once."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from ews_cases.audit.queries import resolved_data
from ews_cases.models import ApiToken, AuditEvent, User, utcnow
from ews_cases.services.accounts import new_token
from ews_cases.services.actors import actor_for
from ews_cases.services.second_factor import enrol_second_factor, has_second_factor, new_totp_secret
from ews_cases.services.users import create_user
from testkit.factories import ATTENDORN, FINNENTROP, SYSTEM
from tests.web.helpers import csrf_token, login, post_form
from workflows import BERLIN

PASSWORD = "richtig-geheim-2027"
ROLES = ("applicant", "reviewer", "coordinator", "auditor", "admin")


def text_of(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def fresh(session):
    session.commit()
    session.expire_all()
    return session


def events(session, action: str) -> list[AuditEvent]:
    found = fresh(session).scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    )
    return list(found)


def event_count(session) -> int:
    return fresh(session).scalar(select(func.count()).select_from(AuditEvent)) or 0


def logged_in(app, session, factory, role: str) -> tuple[FlaskClient, User]:
    user = factory.user(role, FINNENTROP if role == "applicant" else None, password=PASSWORD)
    session.commit()
    client = app.test_client()
    login(client, user.email, PASSWORD)
    return client, user


@pytest.fixture
def admin(app, session, factory) -> FlaskClient:
    """The test client, logged in as an admin."""
    return logged_in(app, session, factory, "admin")[0]


@pytest.fixture
def person(session, factory) -> User:
    user = create_user(
        session,
        SYSTEM,
        email="rita.rat@finnentrop.de",
        name="Rita Rat",
        role="reviewer",
        municipality_ags=FINNENTROP,
        password=PASSWORD,
    )
    session.commit()
    return user


def user_page(user: User) -> str:
    return f"/verwaltung/zugaenge/{user.id}"


# -- who reaches the pages ---------------------------------------------------------------------------------------

#: Every route of the `admin` blueprint: (method, rule) → (path to call with ids filled in, form data).
PAGES = {
    ("GET", "/verwaltung"): ("/verwaltung?q=rita", None),
    ("GET", "/verwaltung/zugaenge/neu"): ("/verwaltung/zugaenge/neu", None),
    ("POST", "/verwaltung/zugaenge/neu"): (
        "/verwaltung/zugaenge/neu",
        {"name": "Nina Neu", "email": "nina@example.org", "role": "auditor", "municipality": ""},
    ),
    ("GET", "/verwaltung/zugaenge/<int:user_id>"): ("/verwaltung/zugaenge/{user}", None),
    ("POST", "/verwaltung/zugaenge/<int:user_id>/rolle"): (
        "/verwaltung/zugaenge/{user}/rolle",
        {"role": "coordinator", "municipality": ""},
    ),
    ("POST", "/verwaltung/zugaenge/<int:user_id>/deaktivieren"): (
        "/verwaltung/zugaenge/{user}/deaktivieren",
        {},
    ),
    ("POST", "/verwaltung/zugaenge/<int:user_id>/reaktivieren"): (
        "/verwaltung/zugaenge/{user}/reaktivieren",
        {},
    ),
    ("POST", "/verwaltung/zugaenge/<int:user_id>/tokens"): (
        "/verwaltung/zugaenge/{user}/tokens",
        {"name": "Fachverfahren", "expires_at": "2099-12-31"},
    ),
    ("POST", "/verwaltung/tokens/<int:token_id>/widerrufen"): ("/verwaltung/tokens/{token}/widerrufen", {}),
    ("POST", "/verwaltung/zugaenge/<int:user_id>/zweiter-faktor/zuruecksetzen"): (
        "/verwaltung/zugaenge/{user}/zweiter-faktor/zuruecksetzen",
        {},
    ),
}
#: What an admin gets (the person of the matrix has no second factor: the reset answers with a note).
ADMIN_STATUS = {("GET", rule): 200 for rule in ("/verwaltung", "/verwaltung/zugaenge/neu")} | {
    ("GET", "/verwaltung/zugaenge/<int:user_id>"): 200,
    ("POST", "/verwaltung/zugaenge/neu"): 303,
    ("POST", "/verwaltung/zugaenge/<int:user_id>/rolle"): 303,
    ("POST", "/verwaltung/zugaenge/<int:user_id>/deaktivieren"): 303,
    ("POST", "/verwaltung/zugaenge/<int:user_id>/reaktivieren"): 303,
    ("POST", "/verwaltung/zugaenge/<int:user_id>/tokens"): 201,
    ("POST", "/verwaltung/tokens/<int:token_id>/widerrufen"): 303,
    ("POST", "/verwaltung/zugaenge/<int:user_id>/zweiter-faktor/zuruecksetzen"): 303,
}


def admin_routes(app) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin.")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def test_every_admin_page_has_a_row(app):
    assert admin_routes(app) == set(PAGES) == set(ADMIN_STATUS)


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
def test_only_admins_reach_the_account_pages(app, session, factory, person, role):
    """Everyone else gets 403 (anonymous: the login page), and a refused POST changes nothing."""
    token = new_token(session, SYSTEM, person, name="spare").record
    session.commit()
    if role == "anonymous":
        client = app.test_client()
        form_token = csrf_token(client.get("/anmelden"))
    else:
        client = logged_in(app, session, factory, role)[0]
        form_token = csrf_token(client.get("/passwort"))
    before = event_count(session)
    for (method, rule), (path, data) in sorted(PAGES.items(), key=lambda item: item[0][0]):  # GETs first
        url = path.format(user=person.id, token=token.id)
        response = (
            client.get(url) if method == "GET" else client.post(url, data={**data, "csrf_token": form_token})
        )
        if role == "anonymous":
            assert response.status_code == 302, (method, rule)
            assert "/anmelden" in response.headers["Location"], (method, rule)
        elif role == "admin":
            assert response.status_code == ADMIN_STATUS[(method, rule)], (
                method,
                rule,
                text_of(response)[:300],
            )
        else:
            assert response.status_code == 403, (method, rule, response.status_code)
            assert "Diese Seite ist für Ihre Rolle nicht freigegeben." in text_of(response)
    if role != "admin":
        assert event_count(session) == before
        assert fresh(session).get(User, person.id).role == "reviewer"
        assert session.get(ApiToken, token.id).revoked_at is None


def test_the_admin_navigation_leads_to_the_accounts(admin):
    home = admin.get("/")
    assert home.headers["Location"].endswith("/verwaltung")
    page = admin.get("/verwaltung").get_data(as_text=True)
    assert re.search(r'<a class="nav-link active"\s+aria-current="page" href="/verwaltung">Zugänge</a>', page)


# -- list and search ------------------------------------------------------------------------------------------------


def test_search_by_name_email_role_municipality_and_status(admin, session, factory, person):
    create_user(
        session,
        SYSTEM,
        email="a.auer@attendorn.de",
        name="Anna Auer",
        role="applicant",
        municipality_ags=ATTENDORN,
    )
    gone = create_user(session, SYSTEM, email="g@example.org", name="Gerd Gone", role="reviewer")
    gone.active = False
    session.commit()

    def names(query: str) -> list[str]:
        response = admin.get(f"/verwaltung?{query}")
        assert response.status_code == 200
        return re.findall(
            r'<td><a href="/verwaltung/zugaenge/\d+">([^<]+)</a></td>', response.get_data(as_text=True)
        )

    assert names("q=RITA") == ["Rita Rat"]
    assert names("q=attendorn.de") == ["Anna Auer"]
    assert names("rolle=applicant") == ["Anna Auer"]
    assert names("kommune=Finnen") == ["Rita Rat"]
    assert names("kommune=05966004") == ["Anna Auer"]
    assert names("status=inactive") == ["Gerd Gone"]
    assert names("rolle=reviewer&status=active") == ["Rita Rat"]
    assert names("rolle=king&status=nonsense&q=Gerd") == ["Gerd Gone"]  # unknown filters are ignored
    page = admin.get("/verwaltung?q=nobody").get_data(as_text=True)
    assert "Keine Zugänge gefunden." in page


def test_the_list_has_pages(admin, session):
    for n in range(55):
        create_user(session, SYSTEM, email=f"p{n:02}@example.org", name=f"Person {n:02}", role="auditor")
    session.commit()
    first = admin.get("/verwaltung?rolle=auditor").get_data(as_text=True)
    assert "55 Zugänge gefunden." in text_of_html(first)
    assert first.count("data-user=") == 50
    assert "seite=2" in first
    assert "Vorherige Seite" not in first
    second = admin.get("/verwaltung?rolle=auditor&seite=2").get_data(as_text=True)
    assert second.count("data-user=") == 5
    assert "Person 54" in second
    assert "Person 00" not in second
    assert "Nächste Seite" not in second


def text_of_html(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


# -- a new account ---------------------------------------------------------------------------------------------------


def test_a_new_account_has_no_password_and_the_page_says_what_comes_next(admin, session):
    response = post_form(
        admin,
        "/verwaltung/zugaenge/neu",
        {"name": "Nina Neu", "email": "Nina@Example.org", "role": "applicant", "municipality": FINNENTROP},
    )
    assert response.status_code == 303
    user = fresh(session).scalar(select(User).where(User.email == "nina@example.org"))
    assert (user.name, user.role, user.municipality_ags, user.password_hash) == (
        "Nina Neu",
        "applicant",
        FINNENTROP,
        None,
    )
    assert response.headers["Location"].endswith(user_page(user))
    assert [e.data["user"] for e in events(session, "user.created")][-1] == user.id
    page = text_of(admin.get(user_page(user)))
    assert "Zugang für Nina Neu angelegt." in page
    assert "Nächster Schritt" in page
    assert "Passwort noch nicht gesetzt" in page


def test_a_refused_new_account_keeps_the_input_and_says_why(admin, session, person):
    before = event_count(session)
    response = post_form(
        admin,
        "/verwaltung/zugaenge/neu",
        {"name": "Nina Neu", "email": "nina@example.org", "role": "applicant", "municipality": ""},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(
        r'id="municipality-fehler"[^>]*>Antragstellende müssen einer Kommune zugeordnet sein.', page
    )
    assert 'value="Nina Neu"' in page
    duplicate = post_form(
        admin,
        "/verwaltung/zugaenge/neu",
        {"name": "Rita Zwei", "email": "RITA.RAT@finnentrop.de", "role": "auditor", "municipality": ""},
    )
    assert duplicate.status_code == 409
    assert re.search(
        r'id="email-fehler"[^>]*>Die E-Mail-Adresse rita.rat@finnentrop.de ist bereits vergeben.',
        duplicate.get_data(as_text=True),
    )
    assert event_count(session) == before


# -- role and municipality -------------------------------------------------------------------------------------------


def test_a_role_change_is_saved_and_audited_with_old_and_new(admin, session, person):
    response = post_form(
        admin,
        f"{user_page(person)}/rolle",
        {"role": "applicant", "municipality": ATTENDORN, "reason": "wechselt in die Verwaltung"},
        form_page=user_page(person),
    )
    assert response.status_code == 303
    changed = fresh(session).get(User, person.id)
    assert (changed.role, changed.municipality_ags) == ("applicant", ATTENDORN)
    [event] = events(session, "user.role_changed")
    assert resolved_data(session, event.data) == {
        "user": person.id,
        "changes": {
            "role": {"old": "reviewer", "new": "applicant"},
            "municipality": {"old": FINNENTROP, "new": ATTENDORN},
        },
        "reason": "wechselt in die Verwaltung",
    }
    assert "Rolle und Zuordnung von Rita Rat gespeichert." in text_of(admin.get(user_page(person)))


def test_a_refused_role_change_changes_nothing(admin, session, person):
    response = post_form(
        admin,
        f"{user_page(person)}/rolle",
        {"role": "applicant", "municipality": ""},
        form_page=user_page(person),
    )
    assert response.status_code == 422
    assert "Antragstellende müssen einer Kommune zugeordnet sein." in text_of(response)
    assert fresh(session).get(User, person.id).role == "reviewer"
    assert events(session, "user.role_changed") == []


def test_an_admin_is_not_offered_to_change_or_deactivate_themselves(app, session, factory):
    client, me = logged_in(app, session, factory, "admin")
    factory.user("admin")
    session.commit()
    page = client.get(user_page(me)).get_data(as_text=True)
    assert f'action="{user_page(me)}/deaktivieren"' not in page
    assert f'action="{user_page(me)}/rolle"' not in page
    # Forged anyway: refused with the reason, nothing changes.
    for path, data, message in [
        ("deaktivieren", {}, "Sie können Ihren eigenen Zugang nicht deaktivieren."),
        ("rolle", {"role": "auditor", "municipality": ""}, "Sie können Ihre eigene Rolle nicht ändern."),
    ]:
        response = post_form(client, f"{user_page(me)}/{path}", data, form_page=user_page(me))
        assert response.status_code == 409
        assert message in text_of(response)
    me = fresh(session).get(User, me.id)
    assert (me.role, me.active) == ("admin", True)


# -- deactivation ------------------------------------------------------------------------------------------------


def test_deactivation_ends_sessions_and_stops_tokens_at_once_and_reactivation_revives_no_session(
    app, admin, session, person
):
    token = new_token(session, SYSTEM, person, name="Fachverfahren").secret
    session.commit()
    theirs = app.test_client()
    login(theirs, person.email, PASSWORD)
    assert theirs.get("/gutachten").status_code == 200
    bearer = {"Authorization": f"Bearer {token}"}
    assert theirs.get("/api/v1/workflow", headers=bearer).status_code == 200

    response = post_form(
        admin, f"{user_page(person)}/deaktivieren", {"reason": "ausgeschieden"}, form_page=user_page(person)
    )
    assert response.status_code == 303
    [event] = events(session, "user.deactivated")
    assert resolved_data(session, event.data) == {"user": person.id, "reason": "ausgeschieden"}
    gone = theirs.get("/gutachten")
    assert gone.status_code == 302
    assert "/anmelden" in gone.headers["Location"]
    assert theirs.get("/api/v1/workflow", headers=bearer).status_code == 401
    page = text_of(admin.get(user_page(person)))
    assert "Der Zugang von Rita Rat ist deaktiviert." in page
    assert "Die Bearbeitungsgeschichte bleibt erhalten." in page
    # A login with the right password is refused while deactivated.
    again = app.test_client()
    token_field = csrf_token(again.get("/anmelden"))
    refused = again.post(
        "/anmelden", data={"email": person.email, "password": PASSWORD, "csrf_token": token_field}
    )
    assert refused.status_code == 401

    response = post_form(admin, f"{user_page(person)}/reaktivieren", {}, form_page=user_page(person))
    assert response.status_code == 303
    assert [e.data for e in events(session, "user.reactivated")] == [{"user": person.id}]
    # The old session stays over; the token (neither revoked nor expired) works again; a new login works.
    ended = theirs.get("/gutachten")
    assert ended.status_code == 303
    assert "/anmelden" in ended.headers["Location"]
    assert theirs.get("/gutachten").status_code == 302
    assert theirs.get("/api/v1/workflow", headers=bearer).status_code == 200
    login(again, person.email, PASSWORD)
    assert again.get("/gutachten").status_code == 200


def test_an_admin_may_demote_and_deactivate_another_admin(admin, session, factory):
    """The last-admin rule refuses only when no active admin would remain (see tests/services/test_accounts)."""
    other = factory.user("admin")
    session.commit()
    response = post_form(
        admin,
        f"{user_page(other)}/rolle",
        {"role": "auditor", "municipality": ""},
        form_page=user_page(other),
    )
    assert response.status_code == 303
    assert (
        post_form(admin, f"{user_page(other)}/deaktivieren", {}, form_page=user_page(other)).status_code
        == 303
    )
    other = fresh(session).get(User, other.id)
    assert (other.role, other.active) == ("auditor", False)


# -- tokens -----------------------------------------------------------------------------------------------------


def test_a_new_token_is_shown_once_works_and_expires_as_chosen(app, admin, session, person):
    response = post_form(
        admin,
        f"{user_page(person)}/tokens",
        {"name": "Fachverfahren", "expires_at": "31.12.2099"},
        form_page=user_page(person),
    )
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    secret = re.search(r'id="token-geheimnis"[^>]*value="([^"]+)"', response.get_data(as_text=True)).group(1)
    assert "nur dieses eine Mal angezeigt" in text_of(response)
    assert "Gültig bis: 31.12.2099, 23:59 Uhr" in text_of(response)
    token = fresh(session).scalar(select(ApiToken).where(ApiToken.user_id == person.id))
    assert token.expires_at.astimezone(BERLIN).date().isoformat() == "2099-12-31"
    assert [e.data["token"] for e in events(session, "token.created")] == [token.id]
    assert (
        app.test_client().get("/api/v1/workflow", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )
    # Never again: not on the account page, not in the session cookie.
    page = admin.get(user_page(person)).get_data(as_text=True)
    assert secret not in page
    assert "Fachverfahren" in page
    assert "31.12.2099" in page
    cookie = admin.get_cookie("session")
    assert cookie is None or secret not in cookie.value

    # The expiry passes: the token is refused and listed as expired.
    session.commit()  # a fresh transaction: the requests have written since this session's last read
    session.execute(
        update(ApiToken).where(ApiToken.id == token.id).values(expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    assert (
        app.test_client().get("/api/v1/workflow", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 401
    )
    assert re.search(
        rf'data-token="{token.id}" data-status="expired"', admin.get(user_page(person)).get_data(as_text=True)
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "alt", "expires_at": "01.01.2020"}, "Das Ablaufdatum muss in der Zukunft liegen."),
        ({"name": "alt", "expires_at": "morgen"}, "Bitte ein Datum angeben, z. B. 30.06.2027."),
        ({"name": "", "expires_at": ""}, "Bitte angeben."),
    ],
)
def test_a_refused_token_is_explained_next_to_its_field(admin, session, person, data, message):
    response = post_form(admin, f"{user_page(person)}/tokens", data, form_page=user_page(person))
    assert response.status_code == 422
    assert message in text_of(response)
    assert fresh(session).scalar(select(func.count()).select_from(ApiToken)) == 0
    assert events(session, "token.created") == []


def test_revoking_a_token_from_the_account_page(app, admin, session, person):
    issued = new_token(session, SYSTEM, person, name="Laptop")
    session.commit()
    page = admin.get(user_page(person)).get_data(as_text=True)
    assert f'action="/verwaltung/tokens/{issued.record.id}/widerrufen"' in page
    response = post_form(
        admin, f"/verwaltung/tokens/{issued.record.id}/widerrufen", {}, form_page=user_page(person)
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(user_page(person))
    assert (
        app.test_client()
        .get("/api/v1/workflow", headers={"Authorization": f"Bearer {issued.secret}"})
        .status_code
        == 401
    )
    assert [e.data for e in events(session, "token.revoked")] == [
        {"token": issued.record.id, "user": person.id}
    ]
    page = admin.get(user_page(person)).get_data(as_text=True)
    assert 'data-status="revoked"' in page
    assert f'action="/verwaltung/tokens/{issued.record.id}/widerrufen"' not in page
    assert (
        post_form(admin, "/verwaltung/tokens/999999/widerrufen", {}, form_page=user_page(person)).status_code
        == 404
    )


def test_an_admin_resets_a_lost_second_factor_and_the_reset_is_audited(admin, session, person):
    reset_url = f"{user_page(person)}/zweiter-faktor/zuruecksetzen"
    assert f'action="{reset_url}"' not in admin.get(user_page(person)).get_data(as_text=True)  # none yet
    secret = new_totp_secret()
    enrol_second_factor(session, actor_for(person), person, secret, pyotp.TOTP(secret).now())
    session.commit()
    assert f'action="{reset_url}"' in admin.get(user_page(person)).get_data(as_text=True)
    answer = post_form(admin, reset_url, {}, form_page=user_page(person))
    assert answer.status_code == 303
    assert "ist zurückgesetzt" in text_of(admin.get(user_page(person)))
    assert [e.data["user"] for e in events(session, "user.second_factor_reset")] == [person.id]
    assert not has_second_factor(fresh(session).get(User, person.id))
    assert admin.get("/verwaltung/zugaenge/999999").status_code == 404
