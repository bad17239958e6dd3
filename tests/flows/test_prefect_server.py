"""Safe reruns against a REAL Prefect server: a run that fails after writing its marts, retried the
way the UI's Retry button does, ends in the same warehouse state as a clean run and posts every
Slack message once (the brief; one message per firing alert), never twice.

Everything runs as in production (see tests/prefect_server.py): ``prefect server start`` as a
subprocess (own PREFECT_HOME, SQLite database in tmp, free loopback port), the `opscadence`
process work pool created with the CLI, the deployments of the repository's ``prefect.yaml``
registered with ``prefect deploy --all`` (its build/pull steps included), and a
``prefect worker start`` subprocess that executes the flow runs in child processes. The flow
talks to a small demo shop in a SQLite file and to the local Slack Web API server running in
this test process.

The clean reference run goes through the same server, deployment and worker: it is a second
flow run of the deployment whose job variables (``env``) point it at a fresh copy of the same
demo warehouse and a second local Slack server, without the fault. Same code path, same
process model, only the data differs: the comparison isolates the fail-then-retry history.
"""

from __future__ import annotations

import re
import shutil
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from opscadence import warehouse
from tests.flows.conftest import END, TOKEN
from tests.prefect_server import (
    ROOT,
    PrefectServer,
    PrefectWorker,
    read_flow_run,
    retry_like_the_ui,
    wait_for_final_state,
)
from tests.slack_api_server import SlackApiServer

pytestmark = pytest.mark.timeout(300)

POOL = "opscadence"  # the work pool prefect.yaml names
DEPLOYMENT = "daily-brief/daily-brief"
DS = END  # 2026-11-24, the demo's payment-incident day (a P1 alert, so both channels get a post)

COMPARED = ("mart_daily_kpis", "mart_daily_funnel", "alerts", "dq_results", "briefs", "alert_states")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Alert-lifecycle messages are keyed "<prefix>-<fingerprint>-<firing time HHMMSS>" with the
# firing date (wall clock, UTC) as ds: bookkeeping of when the run happened, not shop data.
_EPISODE_KIND = re.compile(r"^([a-z]+-[0-9a-f]{16})-\d{6}$")


@pytest.fixture
def prefect_server_process(tmp_path):
    server = PrefectServer(tmp_path / "prefect")
    try:
        server.start()
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def _shop_copy(template: Path, home: Path) -> str:
    home.mkdir(parents=True)
    shutil.copy(template, home / "warehouse.sqlite")
    return f"sqlite:///{home / 'warehouse.sqlite'}"


def _shop_env(url: str, home: Path, slack: SlackApiServer) -> dict[str, str]:
    return {
        "OPSCADENCE_WAREHOUSE_URL": url,
        "OPSCADENCE_HOME": str(home),
        "OPSCADENCE_LOCALE": "en",
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": slack.url,
    }


def _normalized(table: str, row: dict) -> str:
    values = {k: _UUID.sub("<flow-run-id>", v) if isinstance(v, str) else v for k, v in row.items()}
    if table == "briefs":
        episode = _EPISODE_KIND.match(values["kind"])
        if episode:
            values["kind"], values["ds"] = f"{episode.group(1)}-<fired-at>", "<fired-at date>"
    return repr(sorted(values.items()))


def _state(url: str) -> dict[str, list[str]]:
    """Every row of the compared tables, without timestamps (DateTime columns), flow-run ids
    (the brief's link to its run) and alert firing times masked."""
    engine = warehouse.create_engine(url)
    try:
        with engine.connect() as conn:
            state = {}
            for name in COMPARED:
                table = warehouse.metadata.tables.get(name)
                if table is None:  # a table this version of the schema does not have
                    continue
                columns = [c for c in table.c if not isinstance(c.type, sa.DateTime)]
                rows = conn.execute(sa.select(*columns)).mappings()
                state[name] = sorted(_normalized(name, dict(row)) for row in rows)
            return state
    finally:
        engine.dispose()


def _rows_for_day(url: str, name: str, ds: date) -> int:
    engine = warehouse.create_engine(url)
    try:
        table = warehouse.metadata.tables[name]
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table).where(table.c.ds == ds)).scalar_one()
    finally:
        engine.dispose()


def _firing_alerts(url: str) -> int:
    """Alerts of the day that fired (each gets its own message in the alerts channel)."""
    table = warehouse.metadata.tables.get("alert_states")
    if table is None:  # before the alert lifecycle: one alerts message per day
        return 1
    engine = warehouse.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.state == "firing")
            ).scalar_one()
    finally:
        engine.dispose()


def _posts(slack: SlackApiServer, channel: str) -> list:
    return [c for c in slack.calls("chat.postMessage") if c.body.get("channel") == channel]


def _create_run(api_url: str, deployment_id: str, **kwargs):
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(api_url) as client:
        return str(client.create_flow_run_from_deployment(deployment_id, **kwargs).id)


def test_failed_run_retried_from_the_ui_ends_like_a_clean_run_and_posts_once(
    prefect_server_process, demo_template, tmp_path
):
    started = time.monotonic()
    server = prefect_server_process
    template, _shop = demo_template
    config = tmp_path / "opscadence.yaml"  # so a developer's ./opscadence.yaml cannot leak in
    config.write_text("# defaults; the test sets everything through the environment\n", encoding="utf-8")
    fault_marker = tmp_path / "fault-fired"

    faulty_home, clean_home = tmp_path / "faulty", tmp_path / "clean"
    faulty_url = _shop_copy(template, faulty_home)
    clean_url = _shop_copy(template, clean_home)

    # 2. The process work pool and the repository's deployments, with the CLI, non-interactively.
    server.cli("work-pool", "create", POOL, "--type", "process")
    deploy_output = server.cli("--no-prompt", "deploy", "--all", cwd=ROOT)
    assert "daily-brief/daily-brief" in deploy_output
    deployment = httpx.get(f"{server.api_url}/deployments/name/{DEPLOYMENT}", timeout=10).json()
    assert deployment["work_pool_name"] == POOL
    assert deployment["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
    ]

    with SlackApiServer(token=TOKEN) as slack, SlackApiServer(token=TOKEN) as clean_slack:
        # 3. A worker whose environment points the flow at the demo shop, with a one-time fault.
        worker_env = {
            "OPSCADENCE_CONFIG": str(config),
            **_shop_env(faulty_url, faulty_home, slack),
            "OPSCADENCE_FAULT_AT": "after-compute",
            "OPSCADENCE_FAULT_ONCE_FILE": str(fault_marker),
        }
        worker = PrefectWorker(server, POOL, tmp_path / "worker", worker_env)
        try:
            worker.start()
            watch = (server, worker)

            # 4. Run the deployment for the day: it fails after the marts, before delivery.
            run_id = _create_run(server.api_url, deployment["id"], parameters={"as_of": DS.isoformat()})
            failed = wait_for_final_state(server.api_url, run_id, watch=watch)
            assert failed["state"]["type"] == "FAILED", (failed["state"], worker.log_tail())
            assert "injected fault at after-compute" in (failed["state"]["message"] or "")
            assert fault_marker.exists()
            assert _rows_for_day(faulty_url, "mart_daily_kpis", DS) > 0  # the marts were written
            assert _rows_for_day(faulty_url, "briefs", DS) == 0  # nothing was delivered
            assert slack.calls("chat.postMessage") == []

            # 5. Retry it as the UI's Retry button does; the worker runs the same flow run again.
            answer = retry_like_the_ui(server.api_url, run_id)
            assert answer["status"] == "ACCEPT", answer
            assert read_flow_run(server.api_url, run_id)["state"]["name"] == "AwaitingRetry"
            retried = wait_for_final_state(server.api_url, run_id, watch=watch)
            assert retried["state"]["type"] == "COMPLETED", (retried["state"], worker.log_tail())
            assert retried["run_count"] == 2  # one flow run, two attempts
            assert retried["parameters"] == {"as_of": DS.isoformat()}

            # The reference: a clean run of the same day on a fresh copy of the same shop.
            clean_env = {**_shop_env(clean_url, clean_home, clean_slack), "OPSCADENCE_FAULT_AT": ""}
            clean_id = _create_run(
                server.api_url, deployment["id"], parameters={"as_of": DS.isoformat()},
                job_variables={"env": clean_env},
            )
            clean = wait_for_final_state(server.api_url, clean_id, watch=watch)
            assert clean["state"]["type"] == "COMPLETED", (clean["state"], worker.log_tail())
            assert clean["run_count"] == 1
        finally:
            worker.stop()

        # 6. Same warehouse state as the clean run ...
        retried_state, clean_state = _state(faulty_url), _state(clean_url)
        assert set(retried_state) == set(clean_state) >= {"mart_daily_kpis", "alerts", "briefs"}
        for name in ("mart_daily_kpis", "mart_daily_funnel", "alerts", "dq_results"):
            assert _rows_for_day(clean_url, name, DS) > 0, name
        for name in clean_state:
            assert retried_state[name] == clean_state[name], name
        # ... and no duplicate in Slack: the failed attempt posted nothing, the retry posted
        # the brief once and each firing alert once (the alert lifecycle gives every firing
        # alert its own message: on this day the P1 payment breach and the P3 wechat CTR),
        # exactly what the clean run posted; nothing was updated.
        assert len(_posts(slack, "#ops-brief")) == 1
        firing = _firing_alerts(faulty_url)
        assert firing >= 1 and firing == _firing_alerts(clean_url)
        alert_posts = _posts(slack, "#ops-alerts")
        assert len(alert_posts) == firing
        assert len({c.body.get("text") for c in alert_posts}) == firing  # no message twice
        assert len(slack.calls("chat.postMessage")) == 1 + firing
        assert slack.calls("chat.update") == []
        assert all(c.status == 200 and c.response["ok"] for c in slack.calls())

        def texts(server, channel):
            return sorted(_UUID.sub("<flow-run-id>", c.body.get("text") or "") for c in _posts(server, channel))

        for channel in ("#ops-brief", "#ops-alerts"):
            assert texts(slack, channel) == texts(clean_slack, channel), channel
    print(f"real Prefect server: fail, UI retry, clean run in {time.monotonic() - started:.1f} s")
