"""Alembic environment: the URL from config (or -x url=...), the metadata from portal.domain.models."""
from logging.config import fileConfig

from alembic import context

from config import Config
from portal.db import make_engine
from portal.domain.models import metadata

if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)

URL = context.get_x_argument(as_dictionary=True).get("url") or context.config.attributes.get("url") \
    or Config.DATABASE_URL


def run_offline() -> None:
    context.configure(url=URL, target_metadata=metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(URL)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
