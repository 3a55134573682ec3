"""The auditor's checkpoint page (`/pruefung/pruefpunkte`, docs/audit.md §8–§10): the latest signed checkpoint
with its signatures, cosignatures and time stamp; a checkpoint the auditor holds, pasted or uploaded, checked
against the log (`audit.log_report.verify`, as `ews audit verify --checkpoint`); the auditor's bundle.

Checking changes nothing (a POST only because a file may be uploaded); the German explanations of what
verification found are in `auditing_findings`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Response, render_template, stream_with_context
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import TextAreaField
from wtforms.validators import Length, Optional

from ews_cases.audit import anchors, log_report, notes
from ews_cases.audit.bundle import bundle_name, iter_bundle
from ews_cases.audit.timestamps import TimestampError
from ews_cases.db.request_session import db_session
from ews_cases.i18n.translate import N_, _
from ews_cases.models import utcnow
from ews_cases.services.checkpoints import checkpoint_record, latest_checkpoint
from ews_cases.services.cosignatures import with_attestations
from ews_cases.services.timestamps import check_stored
from ews_cases.settings import current_settings
from ews_cases.web.access import roles_required
from ews_cases.web.auditing import AUDIT_READERS, auditing
from ews_cases.web.auditing_findings import HELD_LABEL, Verdict, verdict

#: A checkpoint is a few hundred bytes; a file of kept checkpoints may hold many.
MAX_HELD_BYTES = 256 * 1024


class HeldCheckpointForm(FlaskForm):
    note = TextAreaField(
        N_("Prüfpunkt, den Sie aufbewahrt haben"),
        validators=[Optional(), Length(max=MAX_HELD_BYTES, message=N_("Höchstens 256 KB."))],
        description=N_(
            "Den Text einfügen, wie er in der E-Mail oder Datei steht (mehrere durch Leerzeilen getrennt)."
        ),
    )
    upload = FileField(
        N_("oder als Datei hochladen"),
        description=N_("Eine Textdatei, z. B. pruefpunkt-1200.txt aus der E-Mail."),
    )
    keys = TextAreaField(
        N_("Ihre Prüfschlüssel (freiwillig)"),
        validators=[Optional(), Length(max=8000, message=N_("Höchstens 8000 Zeichen."))],
        description=N_(
            "Je Zeile ein Schlüssel der Form name+schlüssel-id+schlüssel. Ohne Angabe gelten die veröffentlichten "
            "Schlüssel dieser Installation."
        ),
    )


@dataclass
class SignatureView:
    name: str
    key_id: str
    kind: str  # "log" or "cosignature"
    verified: bool | None  # None: no known key (not checked)
    when: str | None = None  # a cosignature's own time


@dataclass
class CheckpointView:
    record: dict[str, Any]
    signatures: list[SignatureView] = field(default_factory=list)
    timestamp: dict[str, Any] | None = None
    timestamp_ok: bool | None = None
    timestamp_problem: str | None = None


def latest_view() -> CheckpointView | None:
    """The latest checkpoint with each signature checked: the log's against the published keys, each
    cosignature against its registered key, the time stamp against the note (and the TSA's certificate)."""
    session = db_session()
    settings = current_settings()
    checkpoint = latest_checkpoint(session)
    if checkpoint is None:
        return None
    [record] = with_attestations(session, [checkpoint_record(checkpoint)])
    view = CheckpointView(record, timestamp=record["timestamp"])
    ring = anchors.published_keys(session, settings)
    known = {(key.name, key.key_id): key for key in ring.keys}
    body = notes.parse_note(checkpoint.note).text.encode()
    for signature in notes.parse_note(checkpoint.note).signatures:
        key = known.get((signature.name, signature.key_id))
        verified = None if key is None else key.verify(body, signature.signature)
        view.signatures.append(SignatureView(signature.name, signature.key_id_hex, "log", verified))
    for cosignature in record["cosignatures"]:
        key = notes.parse_verifier_key(cosignature["verifier_key"])
        try:
            notes.open_note(checkpoint.note + cosignature["line"] + "\n", [key])
            verified = True
        except notes.NoteError:
            verified = False
        view.signatures.append(
            SignatureView(
                cosignature["name"],
                cosignature["key_id"],
                "cosignature",
                verified,
                cosignature["cosigned_at"],
            )
        )
    if view.timestamp is not None:
        try:
            check_stored(session, checkpoint.id, settings)
            view.timestamp_ok = True
        except TimestampError as exc:
            view.timestamp_ok, view.timestamp_problem = False, str(exc)
    return view


def _page(form: HeldCheckpointForm, result: Verdict | None = None, problem: str | None = None) -> str:
    return render_template(
        "auditing/checkpoints.html",
        latest=latest_view(),
        origin=current_settings().log_origin,
        form=form,
        result=result,
        problem=problem,
    )


@auditing.get("/pruefpunkte")
@roles_required(*AUDIT_READERS)
def checkpoints() -> str:
    """The latest checkpoint, its signatures and time stamp; the form to check a checkpoint one holds."""
    return _page(HeldCheckpointForm())


@auditing.post("/pruefpunkte")
@roles_required(*AUDIT_READERS)
def check_checkpoint() -> tuple[str, int]:
    """Check a pasted or uploaded checkpoint against the log (nothing is stored)."""
    form = HeldCheckpointForm()
    if not form.validate_on_submit():
        return _page(form), 422
    text = form.note.data or ""
    upload = form.upload.data
    if not text.strip() and upload is not None and getattr(upload, "filename", ""):
        raw = upload.read(MAX_HELD_BYTES + 1)
        if len(raw) > MAX_HELD_BYTES:
            form.upload.errors.append(N_("Höchstens 256 KB."))
            return _page(form), 422
        text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        return _page(form, problem=_("Bitte fügen Sie einen Prüfpunkt ein oder wählen Sie eine Datei.")), 422
    keys: list[notes.VerifierKey] = []
    for line in (form.keys.data or "").splitlines():
        if line.strip():
            try:  # texts only: a web form never names a file on the server
                keys.append(notes.parse_verifier_key(line))
            except notes.NoteError:
                form.keys.errors.append(N_("Kein gültiger Prüfschlüssel (name+schlüssel-id+schlüssel)."))
                return _page(form), 422
    report = log_report.verify(db_session(), current_settings(), [(HELD_LABEL, text)], keys)
    return _page(form, verdict(report)), 200


@auditing.get("/pruefpaket.zip")
@roles_required(*AUDIT_READERS)
def bundle() -> Response:
    """The auditor's bundle (docs/audit.md §10), streamed as a .zip."""
    now = utcnow()
    response = Response(stream_with_context(_bundle_chunks(now)), mimetype="application/zip")
    response.headers["Content-Disposition"] = f"attachment; filename={bundle_name(now)}.zip"
    return response


def _bundle_chunks(now: Any) -> Iterator[bytes]:
    """Runs while the response streams (see `auditing._export_chunks`): the session is opened here."""
    yield from iter_bundle(db_session(), current_settings(), now=now)
