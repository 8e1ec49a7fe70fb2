"""Domain errors: each carries a message that the UI shows as it is, in the request's language
(Chinese outside a request): commands build it with i18n._()."""


class DomainError(Exception):
    """A rule said no. The message names what is wrong and what is allowed instead."""

    status = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404
