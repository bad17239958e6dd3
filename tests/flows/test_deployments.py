"""prefect.yaml: one deployment per flow, each entrypoint importable, every schedule with cron and timezone."""

import importlib
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from prefect import Flow

ROOT = Path(__file__).resolve().parents[2]


def test_every_deployment_points_at_a_flow_and_has_a_timezone_schedule():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    deployments = spec["deployments"]
    assert {d["name"] for d in deployments} >= {"daily-brief"}
    for deployment in deployments:
        path, name = deployment["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert isinstance(getattr(module, name), Flow)
        for schedule in deployment.get("schedules", []):
            assert schedule["cron"].count(" ") == 4
            ZoneInfo(schedule["timezone"])


def test_every_flow_module_has_a_deployment():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    entry_modules = {d["entrypoint"].split(":")[0] for d in spec["deployments"]}
    # every module of flows/ that defines a flow (common.py and server.py are helpers)
    flow_modules = {f"flows/{p.name}" for p in (ROOT / "flows").glob("*.py") if "@flow(" in p.read_text(encoding="utf-8")}
    assert {"flows/daily.py", "flows/watch.py", "flows/backfill.py"} <= flow_modules
    assert flow_modules <= entry_modules


def test_daily_flow_parameter_is_a_typed_date():
    from flows.daily import daily_brief

    schema = daily_brief.parameters.model_dump()
    as_of = schema["properties"]["as_of"]
    assert {"type": "string", "format": "date"} in as_of["anyOf"]
    assert as_of.get("default") is None
    # A run from the UI may ask for a day not over yet only by ticking allow_partial (off by default).
    allow_partial = schema["properties"]["allow_partial"]
    assert allow_partial["type"] == "boolean" and allow_partial["default"] is False
