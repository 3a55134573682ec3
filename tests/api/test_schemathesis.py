"""schemathesis against the live server: every operation of `/api/v1/openapi.json` answers as documented.

For each operation schemathesis sends generated requests, valid ones and invalid ones, with a token of a role
that may call it, and checks that there is no 5xx, that the status code and the content type are documented,
and that the body matches the documented schema. The read operations run a second time with an auditor's
token. Path parameters are drawn partly from the arranged data (real cases, a cohort, certificates, users),
so the requests reach the handlers and not only the 404.

The operations are driven through schemathesis' Python API (`operation.as_strategy()` under Hypothesis'
`@given`): its pytest integration for schemas from fixtures (`schemathesis.pytest.from_fixture`) fails under
pytest 9 (it reads `Function._nodeid`, which pytest 9 no longer has), and the live server is a fixture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from ews_cases.models import Certificate
from ews_cases.services.accounts import new_token
from testkit.factories import ATTENDORN, BONN, DUESSELDORF, FINNENTROP, SYSTEM
from tests.api.live_server import live_server
from tests.api.test_participation_api import bearer
from workflows import State

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
MAX_EXAMPLES = 25  # per operation and mode: under a minute for the module on 2 idle cores
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,  # the same examples every run: no .hypothesis folder in the repository
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the report shows the failing request as is
)


@dataclass
class Arranged:
    """What the generated requests may hit, and the tokens they are sent with."""

    tokens: dict[str, str] = field(default_factory=dict)
    path_values: dict[str, list[Any]] = field(default_factory=dict)
    #: Tokens and users the test acts with: never revoked or deactivated by a generated request.
    protected_tokens: set[str] = field(default_factory=set)
    protected_users: set[str] = field(default_factory=set)

    def token_for(self, method: str, path: str) -> str:
        """A role that may call the operation: admins manage accounts, reviewers review, else the
        programme office."""
        if path.startswith(("/api/v1/users", "/api/v1/tokens")):
            return self.tokens["admin"]
        if method == "POST" and path.endswith("/reviews"):
            return self.tokens["reviewer"]
        return self.tokens["coordinator"]


@pytest.fixture
def server(app, db):
    with live_server(app) as url:
        yield url


@pytest.fixture
def arranged(session, factory) -> Arranged:
    return arrange(session, factory)


def arrange(session, factory) -> Arranged:
    """Cohort 7 with sessions and a case in each of the main states; users and tokens; all committed."""
    cohort = factory.cohort(7)
    factory.workshop(cohort, kind="fachtagung")
    factory.workshop(cohort)
    cases = [
        factory.case(cohort, ags, state=state)
        for ags, state in (
            (FINNENTROP, State.DRAFT),
            (ATTENDORN, State.SUBMITTED),
            (BONN, State.ATTENDING),
            (DUESSELDORF, State.CERTIFIED),
        )
    ]
    serials = session.scalars(select(Certificate.serial).order_by(Certificate.serial)).all()
    result = Arranged()
    for role in ("coordinator", "admin", "reviewer", "auditor"):
        user = factory.user(role)
        issued = new_token(session, SYSTEM, user)
        result.tokens[role] = issued.secret
        result.protected_tokens.add(str(issued.record.id))
        result.protected_users.add(str(user.id))
    managed = factory.user("applicant", FINNENTROP)
    spare = [new_token(session, SYSTEM, managed, name=f"spare {n}").record for n in range(3)]
    session.commit()
    result.path_values = {
        "case_id": [case.id for case in cases],
        "number": [cohort.number],
        "serial": list(serials),
        "ags": [FINNENTROP, BONN],
        "user_id": [managed.id],
        "token_id": [token.id for token in spare],
    }
    return result


@pytest.fixture
def api_schema(server, arranged):
    schema = schemathesis.openapi.from_url(f"{server}/api/v1/openapi.json")

    @schema.hook
    def flatmap_path_parameters(context, path_parameters: dict[str, Any]):
        """Mix the generated values with real ones; never touch the tokens and users the test acts with."""
        if not path_parameters:
            return st.just(path_parameters)
        options = {}
        for name, value in path_parameters.items():
            real = arranged.path_values.get(name, [])
            protected = {"token_id": arranged.protected_tokens, "user_id": arranged.protected_users}.get(name)
            if protected is not None and str(value) in protected:
                value = real[0]
            options[name] = st.sampled_from([value, *real])
        return st.fixed_dictionaries(options)

    return schema


def check_operation(operation, mode: GenerationMode, base_url: str, token: str) -> None:
    """Send generated requests (valid or invalid ones, after `mode`) and run CHECKS on every response."""

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        case.call_and_validate(base_url=base_url, headers=bearer(token), checks=CHECKS)

    run()


def fuzz(schema, base_url: str, token_for) -> list[str]:
    """Every operation with valid and with invalid data; the failures, all of them."""
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        token = token_for(operation.method.upper(), operation.path)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                check_operation(operation, mode, base_url, token)
            except Unsatisfiable:
                continue  # nothing to make invalid (an operation without parameters and body)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} ({mode.value} data):\n{exc}")
    return failures


def test_every_operation_answers_as_documented(api_schema, server, arranged):
    failures = fuzz(api_schema, server, arranged.token_for)
    assert not failures, "\n\n".join(failures)


def test_auditors_read_everything_as_documented(api_schema, server, arranged):
    failures = fuzz(api_schema.include(method="GET"), server, lambda method, path: arranged.tokens["auditor"])
    assert not failures, "\n\n".join(failures)
