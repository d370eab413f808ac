"""Errors a user can act on. Each carries a message meant for people and an HTTP status for the API."""


class ArticlechatError(Exception):
    """Base class: ``str(err)`` is the user-facing message."""

    status_code = 500
    code = "internal_error"


class ConfigError(ArticlechatError):
    """A setting is missing or wrong; the message names the setting to fix."""

    code = "config_error"


class InvalidInput(ArticlechatError):
    """The request itself is unusable (empty or too long question, unsupported file...)."""

    status_code = 422
    code = "invalid_input"


class NotFound(ArticlechatError):
    """A session or document that does not exist."""

    status_code = 404
    code = "not_found"


class StoreUnavailable(ArticlechatError):
    """The vector store cannot be reached or opened."""

    status_code = 503
    code = "store_unavailable"


class EmbeddingMismatch(ArticlechatError):
    """The collection was built with another embedding model than the one configured."""

    status_code = 409
    code = "embedding_mismatch"


class BackendError(ArticlechatError):
    """The answer model is misconfigured (wrong key, unknown model, unreachable URL)."""

    status_code = 502
    code = "backend_error"


class StoreOutdated(ArticlechatError):
    """The store was made by an earlier version of articlechat; the message names the command that migrates it."""

    status_code = 409
    code = "store_outdated"
