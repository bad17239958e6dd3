"""A cadence registered at run time, with a toy step, runs and backfills through the CLI and the
backfill flow without either being edited (the registry is their only source of cadences)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from prefect import flow

from opscadence.cli import main
from opscadence.core.config import load_config
from opscadence.core.periods import BackfillPass, Cadence, PassOutcome, Period, register, unregister

CADENCE = "toy-weekly"


def _ledger() -> Path:
    return load_config().home / "toy-ledger.json"


def _read() -> list[str]:
    path = _ledger()
    return json.loads(path.read_text()) if path.exists() else []


def _record(period: Period) -> None:
    seen = _read()
    seen.append(period.key)  # every run appends: a rerun that should have been skipped shows twice
    _ledger().parent.mkdir(parents=True, exist_ok=True)
    _ledger().write_text(json.dumps(seen))


# --- the toy cadence's steps (this module is its `steps`) ---------------------------------------

def period_status(engine, cfg, periods: list[Period]) -> dict[Period, str]:
    seen = _read()
    return {p: "current" if p.key in seen else "missing" for p in periods}


def toy_pass(ctx, cadence: str, batch: list[tuple[Period, object]]) -> dict[Period, PassOutcome]:
    out = {}
    for period, _ in batch:
        if period.start == date(2026, 11, 9):  # the week of 9 November fails, the others go on
            out[period] = PassOutcome(ok=False, why="toy failure")
        else:
            _record(period)
            out[period] = PassOutcome(ok=True)
    return out


def backfill_passes() -> list[BackfillPass]:
    return [BackfillPass("toy", toy_pass, progress="done")]


@flow(name="toy-weekly")
def toy_flow(as_of: date | None = None, notify: bool = True) -> dict:
    from flows.common import logical_period

    period = logical_period(CADENCE, as_of, load_config())
    _record(period)
    return {"cadence": CADENCE, "period": period.key, "text": f"toy brief for {period.label('en')}", "deliveries": []}


@pytest.fixture
def toy_cadence(tmp_path, monkeypatch, prefect_server):
    monkeypatch.setenv("OPSCADENCE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPSCADENCE_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'home' / 'warehouse.sqlite'}")
    monkeypatch.chdir(tmp_path)
    register(Cadence(name=CADENCE, grain="week", cron="30 9 * * 1", steps=__name__, flow=f"{__name__}:toy_flow"))
    yield
    unregister(CADENCE)


def test_a_registered_cadence_runs_through_the_cli(toy_cadence, capsys):
    assert main(["run", CADENCE, "--date", "2026-11-26"]) == 0  # a Thursday of 2026-W48
    assert "toy brief for 2026-W48" in capsys.readouterr().out
    assert _read() == ["2026-W48"]


def test_a_registered_cadence_backfills_through_the_cli_and_skips_what_is_complete(toy_cadence, capsys):
    # 2 Nov (Mon) .. 24 Nov (Tue): the weeks of 2, 9, 16 and 23 November
    assert main(["backfill", CADENCE, "--start", "2026-11-02", "--end", "2026-11-24", "--no-notify"]) == 1
    out = capsys.readouterr().out
    assert "3 done, 0 skipped, 1 failed" in out and "2026-W46: toy failure" in out
    assert _read() == ["2026-W45", "2026-W47", "2026-W48"]
    # a rerun skips the three complete weeks and retries only the failed one
    assert main(["backfill", CADENCE, "--start", "2026-11-02", "--end", "2026-11-24", "--no-notify"]) == 1
    assert "0 done, 3 skipped, 1 failed" in capsys.readouterr().out
    assert _read() == ["2026-W45", "2026-W47", "2026-W48"]


def test_the_backfill_flow_accepts_a_registered_cadence_and_refuses_an_unknown_one(toy_cadence):
    from flows.backfill import backfill

    result = backfill(cadence=CADENCE, start=date(2026, 11, 16), end=date(2026, 11, 16), notify=False)
    assert result["done"] == ["2026-W47"] and result["failed"] == {}
    with pytest.raises(ValueError, match="unknown cadence 'nope'"):
        backfill(cadence="nope", start=date(2026, 11, 16), end=date(2026, 11, 16), notify=False)
