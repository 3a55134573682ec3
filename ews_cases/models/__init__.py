"""SQLAlchemy models, one module per aggregate; import from here."""

from ews_cases.models.attestation import AuditCosignature, AuditCosigner, AuditTimestamp
from ews_cases.models.audit import (
    GLOBAL_CHAIN,
    AuditChainHead,
    AuditEvent,
    AuditLogLeaf,
    AuditLogNode,
    AuditLogState,
    case_chain,
)
from ews_cases.models.base import Base, clock_set_to, utcnow
from ews_cases.models.case import ANSWER_FIELDS, Case, TeamMember
from ews_cases.models.certificate import CERTIFICATE_STATUSES, Certificate
from ews_cases.models.checkpoint import AuditCheckpoint, AuditSigningKey
from ews_cases.models.cohort import SESSION_KINDS, Cohort, CohortSession
from ews_cases.models.credential import PasswordResetToken, RecoveryCode
from ews_cases.models.invitation import (
    ACCESS_REQUEST_STATUSES,
    INVITATION_STATUSES,
    AccessRequest,
    Invitation,
)
from ews_cases.models.municipality import Contact, Municipality
from ews_cases.models.outbox import OutboxMessage
from ews_cases.models.participation import ATTENDANCE_STATUSES, PROJECT_STATUSES, Attendance, PracticeProject
from ews_cases.models.personal import PersonalValue
from ews_cases.models.reminder import ReminderSent
from ews_cases.models.review import CRITERIA, RECOMMENDATIONS, Review
from ews_cases.models.user import USER_ROLES, ApiToken, User

__all__ = [
    "ACCESS_REQUEST_STATUSES",
    "ANSWER_FIELDS",
    "ATTENDANCE_STATUSES",
    "CERTIFICATE_STATUSES",
    "CRITERIA",
    "GLOBAL_CHAIN",
    "INVITATION_STATUSES",
    "PROJECT_STATUSES",
    "RECOMMENDATIONS",
    "SESSION_KINDS",
    "USER_ROLES",
    "AccessRequest",
    "ApiToken",
    "Attendance",
    "AuditChainHead",
    "AuditCheckpoint",
    "AuditCosignature",
    "AuditCosigner",
    "AuditEvent",
    "AuditLogLeaf",
    "AuditLogNode",
    "AuditLogState",
    "AuditSigningKey",
    "AuditTimestamp",
    "Base",
    "Case",
    "Certificate",
    "Cohort",
    "CohortSession",
    "Contact",
    "Invitation",
    "Municipality",
    "OutboxMessage",
    "PasswordResetToken",
    "PersonalValue",
    "PracticeProject",
    "RecoveryCode",
    "ReminderSent",
    "Review",
    "TeamMember",
    "User",
    "case_chain",
    "clock_set_to",
    "utcnow",
]
