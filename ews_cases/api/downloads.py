"""Answers that are files (the audit export, certificate PDFs): their media type, and how the OpenAPI document
describes them, so that generated clients hand over the bytes.

A client generator knows `application/octet-stream` as "bytes"; it does not know `application/pdf` or
`application/x-ndjson`. So each download is documented with its own type and `application/octet-stream`
(a string of format binary either way), and answers with `application/octet-stream` when the client asks for
it in preference (`Accept`); otherwise with its own type.
"""

from __future__ import annotations

from typing import Any

from flask import request

OCTET_STREAM = "application/octet-stream"
_BINARY = {"schema": {"type": "string", "format": "binary"}}


def media_type(own: str) -> str:
    """`own`, or `application/octet-stream` if the client prefers that."""
    return request.accept_mimetypes.best_match([own, OCTET_STREAM], default=own) or own


def binary_response(description: str, *own: str) -> dict[str, Any]:
    """An OpenAPI response object for a file of one of the types `own`."""
    return {"description": description, "content": {t: dict(_BINARY) for t in (*own, OCTET_STREAM)}}
