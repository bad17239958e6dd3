"""Shared fixtures: warehouses (a real SQLite file; a real PostgreSQL when configured)."""

from __future__ import annotations

import os
import tempfile

import pytest
import sqlalchemy as sa

# Telemetry off and no stray config for every test, before any library reads them.
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["GX_ANALYTICS_ENABLED"] = "false"
for _name in [n for n in os.environ if n.startswith("OPSCADENCE_") and n != "OPSCADENCE_TEST_POSTGRES_URL"]:
    del os.environ[_name]
os.environ.pop("SLACK_BOT_TOKEN", None)
# The default home is the user's data directory: a test that does not set OPSCADENCE_HOME
# writes into a throwaway one, never the real one.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="opscadence-xdg-")

from opscadence import warehouse  # noqa: E402


def sibling_database(url: str, name: str) -> str:
    """The URL of the PostgreSQL database ``name`` beside the one ``url`` names, created if missing."""
    configured = sa.engine.make_url(url)
    admin = sa.create_engine(configured.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.scalar(sa.text("select 1 from pg_database where datname = :name"), {"name": name}) is None:
                conn.execute(sa.text(f'create database "{name}"'))
    finally:
        admin.dispose()
    return configured.set(database=name).render_as_string(hide_password=False)


def _worker_database(url: str | None) -> str | None:
    """Under pytest-xdist each worker gets its own PostgreSQL database (``test_gw0``, ...).

    Tests drop and recreate every table of their database, so two workers sharing one would
    wipe each other's data. The database is created on first use, next to the configured one.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    worker_url = sibling_database(url, f"{sa.engine.make_url(url).database}_{worker}")
    os.environ["OPSCADENCE_TEST_POSTGRES_URL"] = worker_url  # read by subprocesses and the golden scenario
    return worker_url


POSTGRES_URL = _worker_database(os.environ.get("OPSCADENCE_TEST_POSTGRES_URL"))
WAREHOUSES = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


def _fresh_postgres() -> sa.engine.Engine:
    engine = warehouse.create_engine(POSTGRES_URL)
    warehouse.metadata.drop_all(engine)
    return engine


@pytest.fixture(params=WAREHOUSES)
def engine(request, tmp_path):
    """An empty warehouse with the schema: a SQLite file, and PostgreSQL when configured."""
    if request.param == "sqlite":
        eng = warehouse.create_engine(f"sqlite:///{tmp_path}/warehouse.sqlite")
    else:
        eng = _fresh_postgres()
    warehouse.init_schema(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):
    eng = warehouse.create_engine(f"sqlite:///{tmp_path}/warehouse.sqlite")
    warehouse.init_schema(eng)
    yield eng
    eng.dispose()
