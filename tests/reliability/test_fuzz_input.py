"""Fuzzing the request body path: whatever arrives, the API answers without a 5xx, and every refusal is
problem+json (`ews_cases/http/input_guard.py`, the webargs/marshmallow schemas, `ews_cases/api/errors.py`).

Hypothesis draws, for every operation of `/api/v1/openapi.json` that takes a body (with a token of a role
that may call it, on the arranged data of `tests.api.test_schemathesis`):
- bytes of any kind, JSON-ish text (unbalanced, nested tens of thousands deep, integers of thousands of
  digits, `NaN`/`Infinity`, exponents beyond any float, duplicate keys, invalid UTF-8), under any of several
  content types;
- objects with the operation's own field names and JSON values of any type (wrong types, NaN, huge numbers,
  lone surrogates, NUL, nested objects), which get past the parser into the schemas and the services.
The page forms get the same treatment on the public login form. The examples are derandomised (the same
every run), with a budget that keeps this module around a minute on two idle cores.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.test_participation_api import bearer
from tests.api.test_schemathesis import arranged  # noqa: F401 - the fixture, used below

FUZZ = settings(
    max_examples=250,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    "application/merge-patch+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=grenze",
    "application/octet-stream",
    None,
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["", "\x00", "\ud800", "ä" * 300, "2027-06-30", "05966012", "submit", "present"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def encode(value: Any) -> bytes:
    """JSON as Python writes it, NaN and Infinity included (which strict JSON has not)."""
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


def nested(depth: int, opener: bytes, closer: bytes, balanced: bool) -> bytes:
    return opener * depth + (closer * depth if balanced else b"")


json_ish = st.one_of(
    st.binary(max_size=300),
    json_values.map(encode),
    st.builds(
        nested,
        st.integers(1, 60_000),
        st.sampled_from([b"[", b'{"a":']),
        st.sampled_from([b"]", b"}"]),
        st.booleans(),
    ),
    st.integers(4_000, 30_000).map(lambda digits: b'{"number": ' + b"9" * digits + b"}"),
    st.sampled_from(
        [b'{"number": 1e999999}', b'{"capacity": -1e-999999}', b"NaN", b"[Infinity]", b'{"a": NaN}']
    ),
    st.lists(
        st.tuples(st.sampled_from(["number", "title", "name", "version"]), json_values),
        min_size=2,
        max_size=5,
    ).map(
        lambda pairs: (
            "{"
            + ",".join(f"{json.dumps(k)}: {encode(v).decode('utf-8', 'surrogatepass')}" for k, v in pairs)
            + "}"
        ).encode("utf-8", "surrogatepass")
    ),
    st.binary(max_size=200).map(lambda raw: b'{"title": "' + raw + b'"}'),
)


@pytest.fixture
def operations(app) -> list[tuple[str, str, list[str]]]:
    """(method, path, top-level field names) of every operation with a request body."""
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    found = []
    for path, methods in sorted(spec["paths"].items()):
        for method, operation in sorted(methods.items()):
            if "requestBody" not in operation:
                continue
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            found.append((method.upper(), path, sorted(schemas[ref.rsplit("/", 1)[1]].get("properties", {}))))
    assert len(found) >= 10
    return found


def send(client, arranged_data, method: str, path: str, body: bytes, content_type: str | None):
    for name, values in arranged_data.path_values.items():
        path = path.replace("{" + name + "}", str(values[0]))
    headers = bearer(arranged_data.token_for(method, path))
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = client.open(path, method=method, data=body, headers=headers)
    response.get_data()
    response.close()
    return response


def assert_answered(response) -> None:
    """No 5xx; a refusal is RFC 9457 problem+json whose `status` is the response's."""
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json", response.get_data(as_text=True)[:300]
        assert response.get_json()["status"] == response.status_code


def test_any_body_is_answered_without_a_server_error(app, db, arranged, operations):  # noqa: F811
    client = app.test_client()

    @FUZZ
    @given(data=st.data(), body=json_ish, content_type=st.sampled_from(CONTENT_TYPES))
    def fuzz(data, body: bytes, content_type: str | None) -> None:
        method, path, _fields = data.draw(st.sampled_from(operations), label="operation")
        assert_answered(send(client, arranged, method, path, body, content_type))

    fuzz()


def test_fields_of_any_type_are_answered_without_a_server_error(app, db, arranged, operations):  # noqa: F811
    client = app.test_client()

    @FUZZ
    @given(data=st.data())
    def fuzz(data) -> None:
        method, path, fields = data.draw(st.sampled_from(operations), label="operation")
        body = data.draw(st.fixed_dictionaries({}, optional=dict.fromkeys(fields, json_values)), label="body")
        assert_answered(send(client, arranged, method, path, encode(body), "application/json"))

    fuzz()


@settings(parent=FUZZ, max_examples=80)
@given(body=st.binary(max_size=400), content_type=st.sampled_from(CONTENT_TYPES))
def test_the_login_form_takes_any_body(app, body: bytes, content_type: str | None):
    headers = {"Content-Type": content_type} if content_type else {}
    response = app.test_client().post("/anmelden", data=body, headers=headers)
    assert response.status_code < 500
    assert response.mimetype == "text/html"
