"""The role page blueprints, registered in one place."""

from __future__ import annotations

from flask import Blueprint

from ews_cases.web import (
    applicant_case_form,  # noqa: F401 - adds its routes to `applicant`
    auditing_checkpoints,  # noqa: F401 - adds its routes to `auditing`
    case_actions,  # noqa: F401 - adds its routes to `web`
    office_access,  # noqa: F401 - adds its routes to `office`
    office_certificates,  # noqa: F401 - adds its routes to `office`
    office_exports,  # noqa: F401 - adds its routes to `office`
    office_participation,  # noqa: F401 - adds its routes to `office`
    office_privacy,  # noqa: F401 - adds its routes to `office`
    office_sessions,  # noqa: F401 - adds its routes to `office`
)
from ews_cases.web.admin import admin
from ews_cases.web.applicant import applicant
from ews_cases.web.auditing import auditing
from ews_cases.web.office import office
from ews_cases.web.reviewer import reviewer

BLUEPRINTS: list[Blueprint] = [applicant, reviewer, office, auditing, admin]
