"""Request and response schemas of attendance, practice project and certificates (and the OpenAPI document)."""

from __future__ import annotations

from apiflask import Schema
from apiflask.validators import Length, OneOf, Range

from ews_cases.api.fields import AwareDateTime, Boolean, Float, Integer, List, Nested, String
from ews_cases.api.pagination import MAX_ID
from ews_cases.models import ATTENDANCE_STATUSES, CERTIFICATE_STATUSES, PROJECT_STATUSES, SESSION_KINDS

TEXT = Length(max=20_000)


class AttendanceIn(Schema):
    session = Integer(required=True, validate=Range(1, MAX_ID), metadata={"description": "session id"})
    member = Integer(required=True, validate=Range(1, MAX_ID), metadata={"description": "team member id"})
    status = String(required=True, validate=OneOf(ATTENDANCE_STATUSES))


class AttendanceOut(Schema):
    session = Integer()
    member = Integer()
    status = String(metadata={"enum": list(ATTENDANCE_STATUSES)})
    recorded_at = AwareDateTime()
    recorded_by = Integer(allow_none=True)


class RegisterSession(Schema):
    id = Integer()
    kind = String(metadata={"enum": list(SESSION_KINDS)})
    title = String()
    starts_at = AwareDateTime()
    ends_at = AwareDateTime()
    location = String()
    counts_for_attendance = Boolean(metadata={"description": "workshops count towards min_attendance"})


class RegisterEntry(Schema):
    session = Integer()
    status = String(
        allow_none=True, metadata={"enum": list(ATTENDANCE_STATUSES), "description": "null: not recorded yet"}
    )


class RegisterMember(Schema):
    id = Integer()
    name = String()
    position = String()
    attendance = List(Nested(RegisterEntry), metadata={"description": "one entry per session, same order"})
    share = Float(metadata={"description": "share of the cohort's workshops attended (present)"})
    reaches_min_attendance = Boolean()


class AttendanceRegister(Schema):
    case = Integer()
    min_attendance = Float()
    workshops = Integer()
    sessions = List(Nested(RegisterSession))
    members = List(Nested(RegisterMember))


class ProjectIn(Schema):
    title = String(load_default=None, allow_none=True, validate=Length(max=300))
    summary = String(load_default=None, allow_none=True, validate=TEXT)
    report = String(load_default=None, allow_none=True, validate=TEXT)
    status = String(load_default=None, allow_none=True, validate=OneOf(PROJECT_STATUSES))
    reason = String(load_default=None, allow_none=True, validate=Length(max=5000))


class ProjectOut(Schema):
    case = Integer()
    title = String()
    summary = String()
    report = String()
    status = String(metadata={"enum": list(PROJECT_STATUSES)})
    return_reason = String(allow_none=True)
    updated_at = AwareDateTime(allow_none=True, metadata={"description": "null until first saved"})


class CertificateOut(Schema):
    serial = String()
    holder_name = String()
    member = Integer()
    issued_at = AwareDateTime()
    revoked_at = AwareDateTime(allow_none=True)
    revoked_reason = String(allow_none=True)
    status = String(
        metadata={
            "enum": list(CERTIFICATE_STATUSES),
            "description": "valid, revoked, or prepared (waiting for the ceremony day, not valid yet)",
        }
    )
    released_at = AwareDateTime(allow_none=True)
    verification_url = String()
    sha256 = String(allow_none=True, metadata={"description": "SHA-256 of the PDF; null until it exists"})
    pdf_url = String(allow_none=True, metadata={"description": "null until the PDF has been produced"})


class CertificateList(Schema):
    items = List(Nested(CertificateOut))


class RevokeIn(Schema):
    reason = String(required=True, validate=Length(max=5000))


class ReplaceIn(Schema):
    reason = String(required=True, validate=Length(max=5000))
    holder_name = String(
        validate=Length(max=200),
        metadata={"description": "the name as the new certificate should read; the old one's when left out"},
    )
