"""Domain errors: what went wrong, in a message meant for people. How a front end shows them is its own business
(the CLI: an exit code; the API: the status table of :mod:`articlechat.api.errors`)."""


class ArticlechatError(Exception):
    """Base class: ``str(err)`` is the user-facing message."""


class ConfigError(ArticlechatError):
    """A setting is missing or wrong; the message names the setting to fix."""


class InvalidInput(ArticlechatError):
    """The request itself is unusable (empty or too long question, unsupported file...)."""


class NotFound(ArticlechatError):
    """A session or document that does not exist."""


class StoreUnavailable(ArticlechatError):
    """The vector store cannot be reached or opened (the message may name its address: operators only)."""


class DatabaseUnavailable(ArticlechatError):
    """The session database cannot be reached or is busy beyond its timeout."""


class EmbeddingMismatch(ArticlechatError):
    """The collection was built with another embedding model than the one configured."""


class BackendError(ArticlechatError):
    """The answer model is misconfigured or unreachable (the message may name its server: operators only)."""


class StoreOutdated(ArticlechatError):
    """The store was made by an earlier version of articlechat; the message names the command that migrates it."""
