"""Domain errors raised by services; `ews_cases.api` maps them to problem+json in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from workflows import Refusal, RefusalKind, TransitionRefused
from workflows.text import N_

__all__ = [
    "Conflict",
    "DomainError",
    "Forbidden",
    "NotFound",
    "Refusal",
    "RefusalKind",
    "TransitionRefused",
    "ValidationFailed",
]


class DomainError(Exception):
    """Base of refusals that carry a message for the person who tried."""

    def __init__(self, message: str, **params: object) -> None:
        self.message = message
        self.params = params
        super().__init__(message.format(**params) if params else message)


class NotFound(DomainError):
    pass


class Forbidden(DomainError):
    pass


class Conflict(DomainError):
    """The change collides with the current data: a duplicate, or a stale version."""


class ValidationFailed(DomainError):
    """Invalid input; `errors` maps field names to messages."""

    def __init__(
        self, errors: Mapping[str, Sequence[str]], message: str = N_("Die Eingaben sind ungültig.")
    ) -> None:
        self.errors = {k: list(v) for k, v in errors.items()}
        super().__init__(message)
