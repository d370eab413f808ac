"""Bring a session database to the schema of this version: Alembic's upgrade, under a lock so that several processes
or machines starting at once migrate it once. A database made before migrations existed is stamped at the baseline
revision first, then upgraded."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect, text

from articlechat.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"  # the schema of the versions before migrations: tables `sessions` and `messages`
_PG_LOCK = 0x61727469636C6563  # pg_advisory_xact_lock key ("articlec")


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this version knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """The database's revision; None when it has none (new, or made before migrations)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Migrate the database to :func:`head`, in one transaction; :class:`ConfigError` when the database is newer
    than this version."""
    with _file_lock(engine), engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        config = _config(connection)
        tables = set(inspect(connection).get_table_names())
        if "alembic_version" not in tables and {"sessions", "messages"} <= tables:
            command.stamp(config, BASELINE)
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            raise ConfigError(f"The session database was made by a newer version of articlechat than this one "
                              f"({exc}); run that version, or point ARTICLECHAT_DATABASE_URL at another database."
                              ) from None


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """For a SQLite file: an exclusive lock on ``<file>.migrate-lock`` while migrating; otherwise nothing."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
