"""Forms shared by several pages (login, password, reasons for transitions)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from ews_cases.i18n.translate import N_


class LoginForm(FlaskForm):
    email = EmailField(
        N_("E-Mail-Adresse"), validators=[DataRequired(N_("Bitte geben Sie Ihre E-Mail-Adresse an."))]
    )
    password = PasswordField(
        N_("Passwort"), validators=[DataRequired(N_("Bitte geben Sie Ihr Passwort an."))]
    )


class PasswordForm(FlaskForm):
    """The password page; the rules for the new one are `services.passwords.check_new_password`."""

    current = PasswordField(N_("Bisheriges Passwort"), validators=[DataRequired(N_("Bitte angeben."))])
    new = PasswordField(N_("Neues Passwort"), validators=[DataRequired(N_("Bitte angeben."))])
    repeat = PasswordField(
        N_("Neues Passwort wiederholen"),
        validators=[EqualTo("new", message=N_("Die beiden Eingaben stimmen nicht überein."))],
    )


class TransitionForm(FlaskForm):
    name = HiddenField(validators=[DataRequired()])
    version = IntegerField(validators=[DataRequired()])
    reason = TextAreaField(
        N_("Begründung"), validators=[Optional(), Length(max=5000, message=N_("Höchstens 5000 Zeichen."))]
    )
    override = BooleanField(N_("Ausnahme (Regierungsbezirk) mit Begründung zulassen"))
    #: Set by the confirmation page: the person has read what will happen (`TransitionSpec.confirm`).
    confirmed = HiddenField()
    #: Where to go afterwards (a path on this site; the case page otherwise).
    next = HiddenField()


class SearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(N_("Suche"), validators=[Optional(), Length(max=100)])
