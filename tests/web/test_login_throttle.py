"""The login throttle keeps working, and the login page keeps answering, when its Redis is unreachable."""

from __future__ import annotations

from ews_cases.app import create_app
from testkit.processes import free_port
from tests.web.helpers import csrf_token


def test_login_with_redis_unreachable_falls_back_to_counting_in_memory(settings, db, session, factory):
    # Nothing listens on this port: every call to the limiter's storage fails.
    app = create_app(settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"}))
    email = factory.user("coordinator", password="richtig-und-lang-genug").email
    session.commit()
    client = app.test_client()
    token = csrf_token(client.get("/anmelden"))

    def attempt(password: str) -> int:
        form = {"email": email, "password": password, "csrf_token": token}
        return client.post("/anmelden", data=form).status_code

    assert [attempt("falsch") for _ in range(6)] == [401] * 5 + [429]
    assert attempt("richtig-und-lang-genug") == 429  # throttled is throttled, even with the right password
