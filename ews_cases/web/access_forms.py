"""Forms of the access pages: an invitation (`/programm/zugaenge`), a request for access
(`/zugang/beantragen`) and the office's decline. They parse what was typed; the rules are the services'."""

from __future__ import annotations

from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import EmailField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ews_cases.i18n.translate import N_
from ews_cases.web.admin_forms import ROLE_NAMES, municipality_choices
from ews_cases.web.office_forms import REQUIRED, ServiceErrors
from workflows import Actor, Role

EMAIL_REQUIRED = N_("Bitte geben Sie eine E-Mail-Adresse an.")


class InvitationForm(ServiceErrors, FlaskForm):
    name = StringField(N_("Name"), validators=[DataRequired(REQUIRED), Length(max=200)])
    email = EmailField(N_("E-Mail-Adresse"), validators=[DataRequired(EMAIL_REQUIRED), Length(max=254)])
    role = SelectField(N_("Rolle"), validate_choice=False)  # the service says who may invite whom
    municipality = SelectField(N_("Kommune (für Antragstellende)"), validate_choice=False)

    def fill_choices(self, session: Session, actor: Actor) -> None:
        roles = [r for r in ROLE_NAMES if r != "admin" or actor.role == Role.ADMIN]
        self.role.choices = [SelectChoice(role, ROLE_NAMES[role]) for role in roles]
        self.municipality.choices = municipality_choices(session)


class AccessRequestForm(ServiceErrors, FlaskForm):
    name = StringField(N_("Ihr Name"), validators=[DataRequired(REQUIRED), Length(max=200)])
    email = EmailField(
        N_("Ihre dienstliche E-Mail-Adresse"), validators=[DataRequired(EMAIL_REQUIRED), Length(max=254)]
    )
    municipality = SelectField(N_("Ihre Kommune"), validate_choice=False)
    position = StringField(
        N_("Ihre Funktion in der Verwaltung"), validators=[DataRequired(REQUIRED), Length(max=200)]
    )
    message = TextAreaField(
        N_("Ihre Nachricht an das Programmbüro"), validators=[Optional(), Length(max=2000)]
    )

    def fill_choices(self, session: Session) -> None:
        choices = municipality_choices(session)
        self.municipality.choices = [SelectChoice("", N_("– bitte wählen –")), *choices[1:]]


class DeclineForm(ServiceErrors, FlaskForm):
    reason = TextAreaField(
        N_("Begründung (die Person erhält sie per E-Mail)"),
        validators=[DataRequired(N_("Bitte geben Sie eine Begründung an.")), Length(max=2000)],
    )
