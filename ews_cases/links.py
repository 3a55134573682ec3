"""Absolute links to public pages, built from `EWS_PUBLIC_URL` (emails, PDFs, API answers)."""

from __future__ import annotations

from ews_cases.settings import current_settings


def public_link(path: str) -> str:
    """`/verify/abc` → `https://ews.example.org/verify/abc`."""
    return current_settings().public_url.rstrip("/") + "/" + path.lstrip("/")


def verification_link(code: str) -> str:
    return public_link(f"/verify/{code}")


def unsubscribe_link(token: str) -> str:
    return public_link(f"/unsubscribe/{token}")
