"""Two runs for the same period at the same time: same marts, one Slack message per channel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from opscadence import warehouse

BIN = Path(sys.executable).parent / "opscadence"


def test_two_simultaneous_runs_of_one_day_post_once(shop_env, slack_server, tmp_path):
    shop, home, engine = shop_env
    env = dict(os.environ)
    env["PREFECT_HOME"] = str(tmp_path / "prefect")  # each process starts its own local Prefect server
    env.pop("PREFECT_API_URL", None)
    cmd = [str(BIN), "run", "daily", "--date", shop.payment_incident_day.isoformat()]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs

    posts = [c for c in slack_server.calls("chat.postMessage") if c.status == 200]
    assert sorted(c.body["channel"] for c in posts) == ["#ops-alerts", "#ops-alerts", "#ops-brief"]
    with engine.connect() as conn:
        briefs = conn.execute(sa.select(warehouse.briefs.c.channel, warehouse.briefs.c.message_ts)).all()
        kpis = conn.execute(sa.select(sa.func.count()).select_from(warehouse.mart_daily_kpis)
                            .where(warehouse.mart_daily_kpis.c.ds == shop.payment_incident_day)).scalar_one()
    assert len(briefs) == 3 and all(ts for _, ts in briefs)
    assert kpis > 0
    assert sum("-> posted" in out for out in outputs) == 1  # one run posted, the other found it sent
