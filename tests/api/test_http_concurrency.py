"""Two coordinators fire a transition on the same version at the same moment, over real HTTP.

SPEC §4: every transition names the version it expects; one request wins, the other gets a 409
(`stale_version`) and changes nothing. The requests come from two threads released together by a barrier,
each with its own connection, against a threaded live server; the database's locks decide the winner
(PostgreSQL: the case row's `FOR NO KEY UPDATE`; SQLite: the write lock of `BEGIN IMMEDIATE`). The check holds on
both backends, so it runs in both passes.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

from ews_cases.models import Municipality
from tests.api.live_server import ApiClient, expect, expect_problem, live_server
from tests.api.test_participation_api import token_for
from workflows import State

ROUNDS = 20
#: What each of the two coordinators tries on the same reviewed case.
RIVALS = ("admit", "waitlist")
OUTCOME = {"admit": "admitted", "waitlist": "waitlisted"}


@pytest.fixture
def server(app, db):
    with live_server(app) as url:
        yield url


@pytest.fixture
def reviewed_cases(session, factory):
    """ROUNDS reviewed cases of different municipalities in one cohort with room for all of them."""
    cohort = factory.cohort(capacity=ROUNDS * 2)
    municipalities = session.scalars(
        select(Municipality.ags).where(Municipality.type != "Kreis").order_by(Municipality.ags).limit(ROUNDS)
    ).all()
    cases = [factory.case(cohort, ags, state=State.REVIEWED) for ags in municipalities]
    session.commit()
    return [(case.id, case.version) for case in cases]


def race(clients: list[ApiClient], case_id: int, version: int) -> list[tuple[str, requests.Response]]:
    """Both clients POST their transition with `version`, released at the same moment."""
    barrier = threading.Barrier(len(clients))

    def attempt(client: ApiClient, name: str) -> tuple[str, requests.Response]:
        barrier.wait(timeout=10)
        response = client.post(f"/cases/{case_id}/transitions", json={"name": name, "version": version})
        return name, response

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        futures = [pool.submit(attempt, client, name) for client, name in zip(clients, RIVALS, strict=True)]
        return [future.result() for future in futures]


def test_one_of_two_simultaneous_transitions_wins_the_other_is_stale(
    session, factory, server, reviewed_cases
):
    clients = [ApiClient(server, token_for(session, factory, "coordinator")) for _ in RIVALS]
    auditor = ApiClient(server, token_for(session, factory, "auditor"))
    for case_id, version in reviewed_cases:
        before = expect(auditor.get(f"/cases/{case_id}/history"), 200)["items"]

        results = race(clients, case_id, version)

        statuses = sorted(response.status_code for _, response in results)
        assert statuses == [200, 409], [(name, r.status_code, r.text) for name, r in results]
        (winner, won), (_, lost) = sorted(results, key=lambda result: result[1].status_code)
        problem = expect_problem(lost, 409, "stale_version")
        assert problem["refusals"][0]["code"] == "stale_version"
        case = expect(auditor.get(f"/cases/{case_id}"), 200)
        assert (case["state"], case["version"]) == (OUTCOME[winner], version + 1)
        assert won.json()["state"] == OUTCOME[winner]

        after = expect(auditor.get(f"/cases/{case_id}/history"), 200)
        assert after["chain_ok"] is True
        new_events = after["items"][len(before) :]
        assert after["items"][: len(before)] == before
        assert [(e["action"], e["from_state"], e["to_state"]) for e in new_events] == [
            (f"transition.{winner}", "reviewed", OUTCOME[winner])
        ]
    for client in [*clients, auditor]:
        client.close()
