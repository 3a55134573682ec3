"""The rules for a password a person chooses (BSI IT-Grundschutz ORP.4, NIST SP 800-63B): length over
composition — at least 12 and at most 128 characters, no rules about character classes, but not a common
password, not a simple sequence or repetition, and not the person's own email address or name.

`check_new_password` is the one check every page and command that sets a chosen password calls (change,
reset, accepting an invitation, `ews users create --password`); the fixed accounts of `ews demo` do not
(their published password `demo` is the point of the demo).
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from functools import cache
from importlib import resources

from sqlalchemy import update
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import ValidationFailed
from ews_cases.i18n.translate import _
from ews_cases.models import PasswordResetToken, User, utcnow
from ews_cases.services.users import check_password, hash_password
from workflows import Actor

MIN_LENGTH = 12
MAX_LENGTH = 128
#: Shipped with the package (source and licence: ews_cases/reference/README.md); lowercased, one per line.
COMMON_PASSWORDS_FILE = "common-passwords.txt.gz"
#: Words anybody guessing passwords for this service tries first (NIST SP 800-63B 5.1.1.2).
SERVICE_WORDS = frozenset(
    {
        "ews",
        "ewscases",
        "entwicklungswerkstatt",
        "engagementstrategie",
        "engagementstrategien",
        "engagement",
        "kommune",
        "passwort",
        "kennwort",
        "password",
        "nrw",
        "nordrheinwestfalen",
    }
)
#: Keyboard rows and alphabets; a password that is a stretch of one of them (either way) is a sequence.
_SEQUENCES = (
    "01234567890123456789012345678901234567890",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "qwertzuiopüasdfghjklöäyxcvbnm",
    "qwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6zhn7ujm8ik9ol0p",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)
#: What people put around a word to pass composition rules: digits, punctuation, spaces.
_DECORATION = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_REPEATED = re.compile(r"^(.+?)\1+$", re.DOTALL)
#: A shorter word inside decoration is not looked up: a random password's middle may be anything short.
_MIN_CORE = 4


@cache
def common_passwords() -> frozenset[str]:
    """The list of common passwords shipped with the package, read once per process."""
    data = resources.files("ews_cases.reference").joinpath(COMMON_PASSWORDS_FILE).read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(data).decode("utf-8").splitlines())


def _normal(text: str) -> str:
    """Lowercased, Unicode-normalised (NFKC) and without whitespace, for comparing with lists and names."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def _core(normal: str) -> str:
    """The word inside the decoration: `Sommer2025!` → `sommer`."""
    return _DECORATION.sub("", normal)


def _is_sequence(normal: str) -> bool:
    return any(normal in seq or normal in seq[::-1] for seq in _SEQUENCES)


def _personal(email: str, name: str) -> set[str]:
    """The person's own words: the address, its local part (also split at dots) and the name (also parts)."""
    words: set[str] = set()
    address = _normal(email)
    if address:
        local = address.split("@", 1)[0]
        words |= {address, local, local.replace(".", ""), *re.split(r"[._\-+]", local)}
    full = _normal(name)
    if full:
        words |= {full, *(_normal(part) for part in re.split(r"[\s\-]+", name))}
    return {word for word in words if len(word) >= 3}


def check_new_password(password: str, *, email: str = "", name: str = "") -> list[str]:
    """The problems of a newly chosen password, in German (empty: it may be used). Checks length first;
    `email` and `name` are the person's, whose own address or name is not a password."""
    length = len(password)
    if length < MIN_LENGTH:
        return [
            _(
                "Das Passwort ist zu kurz: mindestens {minimum} Zeichen, Sie haben {length} eingegeben. "
                "Am besten eignet sich ein Satz aus mehreren Wörtern.",
                minimum=MIN_LENGTH,
                length=length,
            )
        ]
    if length > MAX_LENGTH:
        return [_("Das Passwort ist zu lang: höchstens {maximum} Zeichen.", maximum=MAX_LENGTH)]
    problems: list[str] = []
    normal = _normal(password)
    core = _core(normal)
    word = core if len(core) >= _MIN_CORE else normal
    if normal in _personal(email, name) or word in _personal(email, name):
        problems.append(_("Das Passwort darf nicht Ihre E-Mail-Adresse oder Ihr Name sein."))
    elif _REPEATED.match(normal) or _is_sequence(normal) or _is_sequence(word):
        problems.append(
            _(
                "Das Passwort ist eine Zeichenfolge oder Wiederholung (z. B. „123456789012“) und leicht zu erraten."
            )
        )
    elif normal in common_passwords() or word in common_passwords() or word in SERVICE_WORDS:
        problems.append(
            _(
                "Dieses Passwort ist zu verbreitet: Es steht (auch mit Ziffern oder Zeichen davor oder "
                "dahinter) auf einer Liste häufig verwendeter Passwörter."
            )
        )
    return problems


def password_hint() -> str:
    """The rules in one German sentence, shown next to every field that takes a new password."""
    return _(
        "Mindestens {minimum} Zeichen; am besten ein Satz aus mehreren Wörtern. Häufige Passwörter, "
        "Zeichenfolgen und Ihr Name oder Ihre E-Mail-Adresse werden abgelehnt.",
        minimum=MIN_LENGTH,
    )


def set_password(session: Session, user: User, password: str) -> None:
    """Store a new password (already checked) and void the person's open reset links; the caller audits.
    The person's other web sessions end with it (their fingerprint of the old hash no longer matches)."""
    user.password_hash = hash_password(password)
    session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.flush()


def change_password(session: Session, actor: Actor, user: User, current: str, new: str) -> None:
    """The person changes their own password: the current one again, and a new one by the rules."""
    errors: dict[str, list[str]] = {}
    if not check_password(user, current):
        errors["current"] = [_("Das bisherige Passwort stimmt nicht.")]
    problems = check_new_password(new, email=user.email, name=user.name)
    if not problems and not errors and check_password(user, new):
        problems = [_("Das neue Passwort muss sich vom bisherigen unterscheiden.")]
    if problems:
        errors["new"] = problems
    if errors:
        raise ValidationFailed(errors)
    set_password(session, user, new)
    chain.append(session, actor=actor, action="user.password_changed", data={"user": user.id, "at": utcnow()})
