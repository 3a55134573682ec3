"""The log's signing keys: `EWS_AUDIT_SIGNING_KEY` and, during a rotation, `EWS_AUDIT_PREVIOUS_SIGNING_KEYS`.

A key is the text `PRIVATE+KEY+<name>+<key ID>+<base64(0x01 ‖ seed)>` (`audit.notes`, Go's note format) or
the path of a file holding it. The key is never in the database: whoever can rewrite the database cannot
sign a checkpoint of the rewritten log. Production refuses to sign without a configured key; development
and tests make one under the data folder on first use (named after the log's origin) and log where.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from ews_cases.audit import notes
from ews_cases.settings import Settings

log = logging.getLogger(__name__)


class SigningKeyError(RuntimeError):
    """No usable signing key: the message says which setting to fix (never the key itself)."""


def development_key_path(settings: Settings) -> Path:
    return settings.data_dir / "audit" / "development-signing-key"


def log_signers(settings: Settings) -> list[notes.Signer]:
    """The keys that sign each checkpoint: the current one first, then any previous ones still signing."""
    signers = [current_signer(settings)]
    for number, value in enumerate(_list(settings.audit_previous_signing_keys), start=1):
        signer = _load(value, f"EWS_AUDIT_PREVIOUS_SIGNING_KEYS (entry {number})")
        if all(signer.verifier != known.verifier for known in signers):
            signers.append(signer)
    return signers


def current_signer(settings: Settings) -> notes.Signer:
    """`EWS_AUDIT_SIGNING_KEY`; outside production the development key (made on first use)."""
    if settings.audit_signing_key:
        signer = _load(settings.audit_signing_key, "EWS_AUDIT_SIGNING_KEY")
    elif settings.env == "production":
        raise SigningKeyError(
            "EWS_AUDIT_SIGNING_KEY is not set: in production the audit log's checkpoints are signed only with a "
            "key kept outside the database. Make one with `ews audit keygen --output FILE` and set "
            "EWS_AUDIT_SIGNING_KEY to the file's path (docs/operations.md)."
        )
    else:
        signer = _development_signer(settings)
    if signer.name != settings.log_origin:
        log.warning(
            "the audit signing key is named %s, the log's origin is %s; C2SP recommends they match",
            signer.name,
            settings.log_origin,
        )
    return signer


def write_key(path: Path, signer: notes.Signer) -> None:
    """Write a signing key to a new file readable by its owner only; `FileExistsError` if there is one.

    Written aside and linked into place: a process reading the file at the same moment finds all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, aside = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mode 600
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(signer.private_text + "\n")
        os.link(aside, path)
    finally:
        os.unlink(aside)


def _development_signer(settings: Settings) -> notes.Signer:
    path = development_key_path(settings)
    if not path.exists():
        signer = notes.Signer.generate(settings.log_origin)
        try:
            write_key(path, signer)
        except FileExistsError:  # another process made it just now
            return _load(str(path), "the development signing key")
        log.warning(
            "made a development signing key for the audit log at %s (verifier key %s); "
            "production needs EWS_AUDIT_SIGNING_KEY",
            path,
            signer.verifier.text,
        )
        return signer
    return _load(str(path), "the development signing key")


def _load(value: str, setting: str) -> notes.Signer:
    value = value.strip()
    if value.startswith(notes.PRIVATE_KEY_PREFIX):
        text = value
    else:
        path = Path(value).expanduser()
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SigningKeyError(
                f"{setting}: neither a signing key (PRIVATE+KEY+…) nor a readable file ({path}: {exc.strerror})"
            ) from exc
    try:
        signer = notes.parse_signer_key(text)
    except notes.NoteError as exc:
        raise SigningKeyError(f"{setting}: {exc}") from None  # the message names no key material
    if signer.signature_type != notes.ED25519:
        raise SigningKeyError(f"{setting}: a log key signs with type 0x01 (Ed25519), not a cosigning key")
    return signer


def _list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]
