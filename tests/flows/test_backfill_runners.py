"""Backfill chunks as Prefect task runs on a real local Dask cluster (scheduler and workers on
127.0.0.1) against PostgreSQL, ending in the state of a one-process backfill; a Dask worker
killed mid-backfill does not change that state. (Prefect's process pool: tests/flows/test_backfill.py.)"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest
import sqlalchemy as sa

from flows.backfill import backfill
from opscadence import warehouse
from opscadence.core.config import load_config
from opscadence.pipelines.backfill import run_backfill
from opscadence.sources import make_source
from tests.flows.test_backfill import _snapshot

TABLES = (warehouse.mart_daily_kpis, warehouse.mart_daily_funnel, warehouse.dq_results, warehouse.alerts)


def _one_process_state(engine, shop):
    cfg = load_config()
    summary = run_backfill(engine, cfg, make_source(cfg.source_list, engine, timezone=cfg.timezone), "daily",
                           shop.start, shop.end, force=True)
    return summary, {t.name: _snapshot(engine, t) for t in TABLES}


def task_run_names(flow_run_id) -> list[str]:
    """The names of a flow run's chunk task runs ("daily validate 2026-11-04..2026-11-07")."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter, TaskRunFilterName

    async def read():
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="daily ")))
            return [r.name for r in runs]

    return asyncio.run(read())


@pytest.fixture
def dask_cluster(shop_env):
    from distributed import LocalCluster

    # Workers start after shop_env set the environment: they load the same configuration.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        yield cluster


# The Dask backfill runs against PostgreSQL: a SQLite file does not scale out (docs/scaling.md).
@pytest.mark.parametrize("shop_env", ["postgresql"], indirect=True)
def test_dask_backfill_ends_in_the_state_of_one_process(shop_env, dask_cluster, monkeypatch):
    shop, home, engine = shop_env
    assert engine.dialect.name == "postgresql"
    one, single = _one_process_state(engine, shop)
    monkeypatch.setenv("OPSCADENCE_BACKFILL__DASK_ADDRESS", dask_cluster.scheduler_address)

    result = backfill(cadence="daily", start=shop.start, end=shop.end, force=True, concurrency=2, chunk_periods=4,
                      notify=False, runner="dask")

    assert result["done"] == [str(p) for p in one.done] and result["failed"] == {}
    for table in TABLES:
        assert _snapshot(engine, table) == single[table.name], table.name
    assert single["alerts"]  # the planted incidents were found


@pytest.mark.parametrize("shop_env", ["postgresql"], indirect=True)
def test_a_dask_worker_killed_mid_backfill_changes_nothing(shop_env, dask_cluster, monkeypatch):
    from distributed import Client

    shop, home, engine = shop_env
    one, single = _one_process_state(engine, shop)
    monkeypatch.setenv("OPSCADENCE_BACKFILL__DASK_ADDRESS", dask_cluster.scheduler_address)
    killed: list[str] = []
    done = threading.Event()

    def kill_a_worker_while_it_runs_a_chunk():
        with Client(dask_cluster.scheduler_address, timeout=30) as client:
            while not done.is_set() and not killed:
                busy = [address for address, keys in client.processing().items() if keys]
                if busy:
                    nanny = next(n for n in dask_cluster.workers.values() if n.worker_address == busy[0])
                    os.kill(nanny.process.pid, signal.SIGKILL)  # as an OOM kill or an evicted pod does
                    killed.append(busy[0])
                time.sleep(0.1)

    killer = threading.Thread(target=kill_a_worker_while_it_runs_a_chunk, daemon=True)
    killer.start()
    try:
        result = backfill(cadence="daily", start=shop.start, end=shop.end, force=True, concurrency=2,
                          chunk_periods=4, notify=False, runner="dask")
    finally:
        done.set()
        killer.join(timeout=10)

    assert killed, "no worker was killed while running a chunk"
    assert result["done"] == [str(p) for p in one.done] and result["failed"] == {}
    for table in TABLES:
        assert _snapshot(engine, table) == single[table.name], table.name
