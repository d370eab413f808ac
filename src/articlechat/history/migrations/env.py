"""Alembic's entry point: migrations run on the connection :func:`articlechat.history.migrate.upgrade` hands over
(``config.attributes["connection"]``), inside the transaction and lock it holds."""

from alembic import context

from articlechat.history.schema import metadata

context.configure(connection=context.config.attributes["connection"], target_metadata=metadata,
                  render_as_batch=True)  # SQLite alters tables by copying them
with context.begin_transaction():
    context.run_migrations()
