"""End-to-end fixtures: a Prefect test server, a demo shop, and a local Slack Web API server."""

from __future__ import annotations

import shutil
from datetime import date

import pytest

from opscadence import warehouse
from opscadence.demo import load_demo
from tests.conftest import POSTGRES_URL, WAREHOUSES
from tests.slack_api_server import SlackApiServer

END = date(2026, 11, 24)
TOKEN = "xoxb-test-token"


def empty_warehouse_env(kind: str, tmp_path, monkeypatch, *, locale: str = "en", home_dir: bool = True) -> str:
    """An empty warehouse (a SQLite file in the home, or PostgreSQL emptied) configured through
    the environment as a user would, run from ``tmp_path``; returns the warehouse URL."""
    home = tmp_path / "home"
    if home_dir:
        home.mkdir()
    if kind == "sqlite":
        url = f"sqlite:///{home / 'warehouse.sqlite'}"
    else:
        url = POSTGRES_URL
        engine = warehouse.create_engine(url)
        warehouse.metadata.drop_all(engine)
        engine.dispose()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPSCADENCE_HOME", str(home))
    monkeypatch.setenv("OPSCADENCE_WAREHOUSE_URL", url)
    monkeypatch.setenv("OPSCADENCE_LOCALE", locale)
    return url


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory):
    """A small demo shop generated once; each test gets its own copy of the SQLite file."""
    path = tmp_path_factory.mktemp("demo") / "warehouse.sqlite"
    engine = warehouse.create_engine(f"sqlite:///{path}")
    shop = load_demo(engine, users=1500, days=21, seed=11, end_date=END)
    engine.dispose()
    return path, shop


@pytest.fixture
def slack_server():
    with SlackApiServer(token=TOKEN) as server:
        yield server


@pytest.fixture(params=WAREHOUSES)
def shop_env(request, tmp_path, monkeypatch, demo_template, slack_server, prefect_server):
    """Config through the environment, as a user would set it; returns (shop, home, engine).

    Runs on a SQLite file, and on PostgreSQL too when OPSCADENCE_TEST_POSTGRES_URL is set.
    """
    template, shop = demo_template
    home = tmp_path / "home"
    home.mkdir()
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'warehouse.sqlite'}"
        shutil.copy(template, home / "warehouse.sqlite")
    else:
        url = POSTGRES_URL
        engine = warehouse.create_engine(url)
        warehouse.metadata.drop_all(engine)
        load_demo(engine, users=1500, days=21, seed=11, end_date=END)
        engine.dispose()
    monkeypatch.setenv("OPSCADENCE_WAREHOUSE_URL", url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPSCADENCE_HOME", str(home))
    monkeypatch.setenv("OPSCADENCE_LOCALE", "en")
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_API_URL", slack_server.url)
    engine = warehouse.create_engine(url)
    yield shop, home, engine
    engine.dispose()
