"""The golden scenario (tests/golden/snapshot.py) gives exactly the recorded snapshot.

Demo shop → backfill → daily brief → intraday watch → English rerun, through the Prefect
flows and a local Slack Web API server; every mart, check, alert, alert state and brief row
and every Slack request must equal tests/golden/demo_<warehouse>.json, apart from the
fields normalised as volatile (wall-clock times, Slack ts numbering, run links).

An intended change of behaviour is re-recorded with ``python -m tests.golden.snapshot record``
(with OPSCADENCE_TEST_POSTGRES_URL set, to record PostgreSQL too).
"""

from __future__ import annotations

import pytest

from tests.conftest import POSTGRES_URL, WAREHOUSES
from tests.golden import snapshot

# What was added on purpose since the snapshot was recorded: new outputs, nothing that changes an
# old one. Each entry is removed from the run's snapshot before the comparison.
ADDED_TABLES = {"mart_inputs",  # what each day's marts were built from (issue: marts know their inputs)
                # the weekly cadence's marts and tables (empty in this daily scenario)
                "mart_weekly_kpis", "mart_weekly_funnel", "mart_weekly_active_users", "mart_weekly_painpoints",
                "mart_customer_rfm"}
ADDED_RESULT_KEYS = {"cadence", "period", "recomputed"}  # flows return their cadence and period


def _without_added_tables(snap: dict) -> dict:
    # mart_inputs holds a digest of the SQL definitions: left out on both sides, so that a change
    # of any SQL file is judged by the marts it produces, not by its digest.
    tables = {k: v for k, v in snap["tables"].items() if k not in ADDED_TABLES}
    unclassified = [t for t in tables.pop("_tables_not_classified", []) if t not in ADDED_TABLES]
    if unclassified:
        tables["_tables_not_classified"] = unclassified
    return tables


def without_additions(actual: dict, expected: dict) -> dict:
    tables = _without_added_tables(actual)
    results = {}
    for step, result in actual["flow_results"].items():
        known = expected["flow_results"].get(step, {})
        results[step] = {k: v for k, v in result.items() if k in known or k not in ADDED_RESULT_KEYS}
    return {**actual, "tables": tables, "flow_results": results}


@pytest.mark.parametrize("kind", WAREHOUSES)
def test_demo_scenario_matches_the_golden_snapshot(kind, tmp_path, prefect_server):
    path = snapshot.golden_path(kind)
    if not path.exists():  # a configured warehouse without its golden file fails, never skips
        pytest.fail(f"no golden snapshot {path} for {kind}; record it with: python -m tests.golden.snapshot record",
                    pytrace=False)
    expected = snapshot.load_golden(kind)
    expected = {**expected, "tables": _without_added_tables(expected)}

    actual, seconds = snapshot.run_scenario(kind, tmp_path / "scenario", POSTGRES_URL)
    assert ADDED_TABLES <= set(actual["tables"]), "an addition listed above is not produced"
    actual = without_additions(actual, expected)

    print(f"{kind}: " + ", ".join(f"{step} {s:.1f}s" for step, s in seconds.items()))
    if actual != expected:
        pytest.fail(snapshot.describe_mismatch(kind, expected, actual), pytrace=False)
