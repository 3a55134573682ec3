"""The second factor for the web login: TOTP (RFC 6238, the codes of an authenticator app) and recovery codes.

A person enrols by scanning a secret and confirming it with a code; the secret is stored only once confirmed.
Ten recovery codes are issued at enrolment (shown once, stored as SHA-256, each good once). Enrolment, use of
a recovery code, renewal of the codes, disabling by the person and a reset by an admin are audited on the
global chain. Who must use a second factor: `EWS_REQUIRE_2FA_ROLES` (`Settings.second_factor_roles`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ews_cases.audit import chain
from ews_cases.errors import Conflict, ValidationFailed
from ews_cases.i18n.translate import N_, _
from ews_cases.models import RecoveryCode, User, utcnow
from ews_cases.services.users import check_password, require_admin
from ews_cases.settings import current_settings
from workflows import Actor

#: The name authenticator apps show above the code.
ISSUER = "EWS Entwicklungswerkstatt"
RECOVERY_CODE_COUNT = 10
#: Without 0/o, 1/l/i: a code copied from paper is read back unambiguously. 31 symbols, 16 of them: 79 bits.
_RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_RECOVERY_LENGTH = 16
#: A code of the previous or the next 30-second step is accepted too (clocks drift; RFC 6238 section 5.2).
_DRIFT_STEPS = 1

ALREADY_ENROLLED = N_("Für Ihr Konto ist bereits ein zweiter Faktor eingerichtet.")
NOT_ENROLLED = N_("Für Ihr Konto ist kein zweiter Faktor eingerichtet.")
WRONG_CODE = N_(
    "Der Code stimmt nicht oder wurde schon verwendet. Bitte geben Sie den aktuellen sechsstelligen Code aus "
    "Ihrer App ein."
)


def second_factor_required(user: User) -> bool:
    """Whether the person's role must use a second factor (`EWS_REQUIRE_2FA_ROLES`)."""
    return user.role in current_settings().second_factor_roles


def has_second_factor(user: User) -> bool:
    return user.totp_secret is not None


def new_totp_secret() -> str:
    """A fresh shared secret (160 bits, base32) for an enrolment that is not confirmed yet."""
    return pyotp.random_base32(32)


def provisioning_uri(user: User, secret: str) -> str:
    """The `otpauth://` URI the QR code carries (account name: the email address)."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def _matching_step(secret: str, code: str, now: datetime, after: int | None) -> int | None:
    """The time step `code` belongs to (within the drift), if it is later than `after`; None otherwise."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // totp.interval
    found = None
    for step in range(current - _DRIFT_STEPS, current + _DRIFT_STEPS + 1):
        # Every candidate is compared (no early exit), in constant time per comparison.
        if hmac.compare_digest(totp.generate_otp(step), code) and (after is None or step > after):
            found = step
    return found


def _hash_code(code: str) -> str:
    normal = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(normal.encode("ascii", "ignore")).hexdigest()


def _new_recovery_codes(session: Session, user: User) -> list[str]:
    """Replace the person's recovery codes with fresh ones; returns them formatted `xxxx-xxxx-xxxx-xxxx`."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _n in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _i in range(_RECOVERY_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
        session.add(RecoveryCode(user_id=user.id, code_hash=_hash_code(raw)))
    session.flush()
    return codes


def enrol_second_factor(
    session: Session, actor: Actor, user: User, secret: str, code: str, *, now: datetime | None = None
) -> list[str]:
    """Confirm an enrolment with a code of the scanned secret; returns the new recovery codes (shown once)."""
    if has_second_factor(user):
        raise Conflict(ALREADY_ENROLLED)
    now = now or utcnow()
    step = _matching_step(secret, code, now, None)
    if step is None:
        raise ValidationFailed({"code": [_(WRONG_CODE)]})
    user.totp_secret, user.totp_enrolled_at, user.totp_last_step = secret, now, step
    codes = _new_recovery_codes(session, user)
    chain.append(session, actor=actor, action="user.second_factor_enrolled", data={"user": user.id})
    return codes


def verify_totp(session: Session, user: User, code: str, *, now: datetime | None = None) -> bool:
    """Whether `code` is a current TOTP code of the person that was not used before (each code counts once,
    also when two requests race: the step is claimed with one conditional UPDATE)."""
    if user.totp_secret is None:
        return False
    step = _matching_step(user.totp_secret, code, now or utcnow(), user.totp_last_step)
    if step is None:
        return False
    claimed = session.execute(
        update(User)
        .where(User.id == user.id)
        .where((User.totp_last_step.is_(None)) | (User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return False
    set_committed_value(user, "totp_last_step", step)  # written above; nothing left to flush
    return True


def use_recovery_code(session: Session, actor: Actor, user: User, code: str) -> bool:
    """Log in with a recovery code instead of a TOTP code: True once per code (the use is audited)."""
    if user.totp_secret is None:
        return False
    used = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash_code(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        return False
    chain.append(
        session,
        actor=actor,
        action="user.recovery_code_used",
        data={"user": user.id, "remaining": remaining_recovery_codes(session, user)},
    )
    return True


def remaining_recovery_codes(session: Session, user: User) -> int:
    return session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )


def renew_recovery_codes(session: Session, actor: Actor, user: User, password: str) -> list[str]:
    """New recovery codes for the person (the old ones stop working); asks for the password again."""
    if not has_second_factor(user):
        raise Conflict(NOT_ENROLLED)
    if not check_password(user, password):
        raise ValidationFailed({"password": [_("Das Passwort stimmt nicht.")]})
    codes = _new_recovery_codes(session, user)
    chain.append(session, actor=actor, action="user.recovery_codes_renewed", data={"user": user.id})
    return codes


def _remove_second_factor(session: Session, user: User) -> None:
    user.totp_secret = user.totp_enrolled_at = user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.flush()


def disable_second_factor(session: Session, actor: Actor, user: User, password: str) -> None:
    """The person turns the second factor off (not where the role requires it); asks for the password."""
    if not has_second_factor(user):
        raise Conflict(NOT_ENROLLED)
    if second_factor_required(user):
        raise Conflict(
            N_("Für Ihre Rolle ist der zweite Faktor vorgeschrieben; Sie können ihn nicht abschalten.")
        )
    if not check_password(user, password):
        raise ValidationFailed({"password": [_("Das Passwort stimmt nicht.")]})
    _remove_second_factor(session, user)
    chain.append(session, actor=actor, action="user.second_factor_disabled", data={"user": user.id})


def reset_second_factor(session: Session, actor: Actor, user: User) -> bool:
    """An admin removes a person's second factor (e.g. the phone is lost): the person enrols again at the
    next login where the role requires it. Audited; False (and nothing recorded) if there was none."""
    require_admin(actor)
    if not has_second_factor(user):
        return False
    _remove_second_factor(session, user)
    chain.append(session, actor=actor, action="user.second_factor_reset", data={"user": user.id})
    return True
