"""The schema fields of the API: APIFlask's (marshmallow's), with strict JSON types in one place.

marshmallow converts what it can: `"2"` and `1.9` become the integer 2 and 1, `"yes"` and `1` become true. A
request body is JSON, which has its own integers and booleans, so here an `Integer` in a body accepts only a
JSON integer and a `Boolean` only `true` or `false`; anything else is a 422 naming the field. The query string
is text by nature: there an `Integer` reads its digits and a `Boolean` its words, as before.

Every schema module imports its fields from here (tests/api/test_strict_json.py checks that), so a new field
is strict without anyone remembering to say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apiflask import fields
from apiflask.fields import (
    AwareDateTime,
    Date,
    Decimal,
    Dict,
    Email,
    Float,
    List,
    Nested,
    String,
)
from webargs.multidictproxy import MultiDictProxy

from ews_cases.services.validation import EMAIL_RE

__all__ = [
    "EMAIL",
    "AwareDateTime",
    "Boolean",
    "Date",
    "Decimal",
    "Dict",
    "Email",
    "Float",
    "Integer",
    "List",
    "Nested",
    "String",
]


#: How the document describes an email address the services require (`EMAIL_RE`; they also strip spaces).
EMAIL: dict[str, Any] = {"format": "email", "pattern": EMAIL_RE.pattern}


def _from_text(data: Mapping[str, Any] | None) -> bool:
    """Whether the value comes from the query string, headers or a form (webargs hands those over as a
    `MultiDictProxy`), where every value is text; a JSON body arrives as the parsed dict."""
    return isinstance(data, MultiDictProxy)


class Integer(fields.Integer):
    """A whole number: in a JSON body a JSON integer only (`1.9`, `"2"` and `true` are refused); in the
    query string its decimal digits."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> int:
        if isinstance(value, str) and _from_text(data):
            return fields.Number._validated(self, value)  # the conversion without the strict type check
        return super()._deserialize(value, attr, data, **kwargs)


class Boolean(fields.Boolean):
    """`true` or `false`: in a JSON body the JSON literals only (`"yes"`, `1` and `"true"` are refused); in
    the query string the usual words (`true`, `1`, `yes`, …)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> bool:
        if _from_text(data) or isinstance(value, bool):
            return super()._deserialize(value, attr, data, **kwargs)
        raise self.make_error("invalid", input=value)
