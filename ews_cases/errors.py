"""Domain errors raised by services; `ews_cases.api` maps them to problem+json in one place."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

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

    #: The HTTP status the API and the pages answer with (SPEC §2).
    status = 400

    def __init__(self, message: str, **params: object) -> None:
        self.message = message
        self.params = params
        super().__init__(message.format(**params) if params else message)

    def render(self, translate: Callable[..., str]) -> str:
        """The message in the reader's language with its placeholders filled (as `Refusal.render`)."""
        return translate(self.message, **self.params)


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    """The change collides with the current data: a duplicate, or a stale version."""

    status = 409


class ValidationFailed(DomainError):
    """Invalid input; `errors` maps field names to messages."""

    status = 422

    def __init__(
        self, errors: Mapping[str, Sequence[str]], message: str = N_("Die Eingaben sind ungültig.")
    ) -> None:
        self.errors = {k: list(v) for k, v in errors.items()}
        super().__init__(message)
