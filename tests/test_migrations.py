"""The migrations build exactly the schema the models describe, on an empty database of each backend.

When a helper adds tables and the initial migration has not been regenerated
yet, this fails and lists the differences: regenerate the migration.
"""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from portal.db import make_engine
from portal.domain.models import metadata

from .conftest import fresh_database_url

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    return config


@pytest.fixture
def empty_database(backend, tmp_path):
    url = fresh_database_url(backend, tmp_path, f"portal_migrate_{uuid.uuid4().hex[:8]}")
    yield url


def test_upgrade_head_matches_the_models(empty_database):
    command.upgrade(alembic_config(empty_database), "head")
    engine = make_engine(empty_database)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                                   "compare_server_default": False})
            differences = compare_metadata(context, metadata)
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert differences == [], "models and migrations differ; regenerate the migration:\n" + "\n".join(
        repr(d) for d in differences)
    assert set(metadata.tables) <= tables


def test_downgrade_to_base_removes_every_table(empty_database):
    config = alembic_config(empty_database)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    engine = make_engine(empty_database)
    try:
        with engine.connect() as connection:
            left = set(inspect(connection).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()
    assert left == set()
