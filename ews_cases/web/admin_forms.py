"""Forms of the account administration pages (`/verwaltung`): search, new user, role and municipality,
deactivation, tokens. They parse what was typed; roles, municipalities and expiry dates are checked by
`services.accounts`, whose messages are shown next to the fields."""

from __future__ import annotations

from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import DateField, EmailField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ews_cases.i18n.translate import N_, _
from ews_cases.models import USER_ROLES, Municipality
from ews_cases.web.office_forms import DATE_FORMATS, NOT_A_DATE, REQUIRED, ServiceErrors

#: The roles as the pages name them (the navigation's `ROLE_LABELS` name the areas instead).
ROLE_NAMES = {
    "applicant": N_("Antragstellende (Kommune)"),
    "reviewer": N_("Gutachterin / Gutachter"),
    "coordinator": N_("Programmbüro"),
    "auditor": N_("Prüfung (nur lesen)"),
    "admin": N_("Administration"),
}
STATUS_NAMES = {"active": N_("aktiv"), "inactive": N_("deaktiviert")}
TOKEN_STATUS_NAMES = {"active": N_("gültig"), "expired": N_("abgelaufen"), "revoked": N_("widerrufen")}
MUNICIPALITY_HELP = N_(
    "Für Antragstellende die Kommune, für die sie handeln; für Gutachtende die Zugehörigkeit, "
    "nach der Befangenheit geprüft wird."
)
REASON_HELP = N_("Optional; wird im Prüfprotokoll festgehalten.")


def municipality_label(municipality: Municipality) -> str:
    """`Finnentrop (Kreis Olpe) · 05966012`: names repeat across Kreise, the AGS does not."""
    if municipality.type == "Kreis":
        return f"{municipality.name} · {municipality.ags}"
    where = _("kreisfreie Stadt") if municipality.type == "kreisfreie Stadt" else municipality.kreis_name
    return f"{municipality.name} ({where}) · {municipality.ags}"


def municipality_choices(session: Session) -> list[SelectChoice]:
    """Every municipality of NRW by name, after a choice for none (a select works without JavaScript)."""
    found = session.scalars(select(Municipality).order_by(Municipality.name, Municipality.ags))
    return [SelectChoice("", _("– keine –")), *(SelectChoice(m.ags, municipality_label(m)) for m in found)]


def role_choices() -> list[SelectChoice]:
    return [SelectChoice(role, ROLE_NAMES[role]) for role in USER_ROLES]


class UserSearchForm(FlaskForm):
    """The filters of the user list (GET, bookmarkable)."""

    class Meta:
        csrf = False

    q = StringField(N_("Name oder E-Mail-Adresse"), validators=[Optional(), Length(max=100)])
    rolle = SelectField(N_("Rolle"), validate_choice=False)
    kommune = StringField(N_("Kommune (Name oder AGS)"), validators=[Optional(), Length(max=100)])
    status = SelectField(N_("Status"), validate_choice=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.rolle.choices = [SelectChoice("", N_("alle")), *role_choices()]
        self.status.choices = [
            SelectChoice("", N_("alle")),
            *(SelectChoice(key, label) for key, label in STATUS_NAMES.items()),
        ]


class AccessFields(ServiceErrors, FlaskForm):
    """Role and municipality (or affiliation); the choices come from `fill_choices`."""

    role = SelectField(N_("Rolle"), validate_choice=False)  # the service names the allowed roles
    municipality = SelectField(N_("Kommune / Zugehörigkeit"), validate_choice=False)

    def fill_choices(self, session: Session) -> None:
        self.role.choices = role_choices()
        self.municipality.choices = municipality_choices(session)

    def municipality_ags(self) -> str | None:
        return self.municipality.data or None


class AccessForm(AccessFields):
    # Own ids: the account page also shows the activity form's reason (ids must be unique on a page).
    reason = TextAreaField(
        N_("Begründung"), validators=[Optional(), Length(max=2000)], id="rolle-begruendung"
    )


class NewUserForm(AccessFields):
    name = StringField(N_("Name"), validators=[DataRequired(REQUIRED), Length(max=200)])
    email = EmailField(
        N_("E-Mail-Adresse"),
        validators=[DataRequired(N_("Bitte geben Sie eine E-Mail-Adresse an.")), Length(max=254)],
    )


class ActivityForm(ServiceErrors, FlaskForm):
    """Deactivate or reactivate, with an optional reason."""

    reason = TextAreaField(
        N_("Begründung"), validators=[Optional(), Length(max=2000)], id="status-begruendung"
    )


class TokenForm(ServiceErrors, FlaskForm):
    name = StringField(
        N_("Bezeichnung"),
        validators=[DataRequired(REQUIRED), Length(max=100)],
    )
    expires_at = DateField(
        N_("Gültig bis einschließlich"),
        validators=[Optional()],
        format=DATE_FORMATS,
        invalid_value_message=NOT_A_DATE,
    )


class ConfirmForm(FlaskForm):
    """Only the CSRF token: revoking a token, resetting a second factor."""
