"""Domain errors raised by services, selectors and access; the API maps each to one status."""

from __future__ import annotations

from datetime import datetime


class DomainError(Exception):
    """Base class. `code` is machine-readable and stable; the message is for people."""

    code = "error"

    def __init__(self, detail: str, *, field_errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field_errors = field_errors or {}


class NotFoundError(DomainError):
    """Missing, or belongs to another organization: callers cannot tell the two apart."""

    code = "not_found"

    def __init__(self, detail: str = "Not found.") -> None:
        super().__init__(detail)


class ForbiddenError(DomainError):
    """A member of this organization whose role does not allow the action."""

    code = "forbidden"


class InvalidError(DomainError):
    """Input that can never succeed as given (field_errors says which field)."""

    code = "invalid"


class ConflictError(DomainError):
    """The request clashes with the current state (e.g. a second unresolved conversation)."""

    code = "conflict"


class WindowClosedError(ConflictError):
    """The platform's reply window is closed: nothing was sent and no message was stored."""

    code = "window_closed"

    def __init__(self, window_closed_at: datetime | None) -> None:
        when = window_closed_at.isoformat() if window_closed_at else "never opened"
        super().__init__(f"The reply window is closed ({when}); the customer must write first.")
        self.window_closed_at = window_closed_at


class ChannelPausedError(ConflictError):
    """An admin paused the channel: no reply goes out through it until it is resumed."""

    code = "channel_paused"

    def __init__(self) -> None:
        super().__init__("Replies are paused on this channel: an admin must resume it first.")


class NoPostToAnswerError(ConflictError):
    """A public reply needs a public post of the customer's to answer, and there is none."""

    code = "no_post"

    def __init__(self) -> None:
        super().__init__("The customer has no public post to answer: reply privately.")


class PostDeletedError(ConflictError):
    """The customer's latest public post, which a public reply would answer, was deleted."""

    code = "post_deleted"

    def __init__(self) -> None:
        super().__init__("The customer deleted the post this would answer: reply privately.")
