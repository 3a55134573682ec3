"""Forms of the login's second step, the password reset, the second-factor pages and the checkpoint mail."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import AnyOf, DataRequired, EqualTo, Length

from ews_cases.i18n.translate import N_


class CodeForm(FlaskForm):
    """A six-digit code of the authenticator app (login's second step, confirming an enrolment)."""

    code = StringField(
        N_("Sechsstelliger Code aus Ihrer App"),
        validators=[DataRequired(N_("Bitte geben Sie den Code ein.")), Length(max=20)],
    )


class RecoveryCodeForm(FlaskForm):
    code = StringField(
        N_("Wiederherstellungscode"),
        validators=[DataRequired(N_("Bitte geben Sie einen Wiederherstellungscode ein.")), Length(max=40)],
    )


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        N_("E-Mail-Adresse"),
        validators=[DataRequired(N_("Bitte geben Sie Ihre E-Mail-Adresse an.")), Length(max=254)],
    )


class NewPasswordForm(FlaskForm):
    """A new password through a reset link; the rules are `services.passwords.check_new_password`."""

    new = PasswordField(N_("Neues Passwort"), validators=[DataRequired(N_("Bitte angeben."))])
    repeat = PasswordField(
        N_("Neues Passwort wiederholen"),
        validators=[EqualTo("new", message=N_("Die beiden Eingaben stimmen nicht überein."))],
    )


class ConfirmPasswordForm(FlaskForm):
    """The password again before a change to the second factor (new recovery codes, switching it off)."""

    password = PasswordField(N_("Ihr Passwort"), validators=[DataRequired(N_("Bitte angeben."))])


class CheckpointMailForm(FlaskForm):
    """An auditor switches the checkpoint mail on or off (`/konto/pruefpunkte`)."""

    subscribed = HiddenField(validators=[AnyOf(["on", "off"])])
