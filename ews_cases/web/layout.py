"""What every page's layout needs: the navigation of the current role (only links that exist)."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from flask_login import current_user

from ews_cases.i18n.translate import N_

#: Navigation per role: (endpoint, label). The same table decides what each role sees.
NAVIGATION: dict[str, list[tuple[str, str]]] = {
    "applicant": [
        ("applicant.my_cases", N_("Meine Bewerbungen")),
        ("applicant.new_case", N_("Neue Bewerbung")),
    ],
    "reviewer": [("reviewer.queue", N_("Zu begutachten"))],
    "coordinator": [
        ("office.dashboard", N_("Übersicht")),
        ("office.cases", N_("Bewerbungen")),
        ("office.outbox", N_("E-Mail-Versand")),
        ("office.access", N_("Zugänge")),
        ("office.privacy", N_("Datenschutz")),
    ],
    "auditor": [
        ("auditing.log", N_("Protokoll")),
        ("auditing.cases", N_("Bewerbungen")),
        ("auditing.chain", N_("Prüfkette")),
        ("auditing.checkpoints", N_("Prüfpunkte")),
    ],
    "admin": [("admin.users", N_("Zugänge"))],
}
COMMON = [("web.help_page", N_("Hilfe"))]
ROLE_LABELS = {
    "applicant": N_("Kommune"),
    "reviewer": N_("Gutachten"),
    "coordinator": N_("Programmbüro"),
    "auditor": N_("Prüfung"),
    "admin": N_("Administration"),
}


def register_layout(app: Flask) -> None:
    @app.context_processor
    def _navigation() -> dict[str, Any]:
        items: list[tuple[str, str]] = []
        if current_user.is_authenticated:
            items = NAVIGATION.get(current_user.role, [])
        links = [
            (endpoint, label)
            for endpoint, label in [*items, *COMMON]
            if endpoint in current_app.view_functions
        ]
        return {"navigation": links, "role_labels": ROLE_LABELS}
