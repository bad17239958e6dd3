"""The demo's planted A/B tests: a real lift on recall_sms_copy, an SRM on checkout_button."""

from datetime import date, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from opscadence import warehouse
from opscadence.analytics.weekly.abtest import VariantTotals, analyse_experiment
from opscadence.demo import load_demo, load_demo_chunked
from opscadence.demo.experiments import experiments_frame

END = date(2026, 11, 24)
START = END - timedelta(days=59)


def analysed(frame: pd.DataFrame, name: str):
    rows = frame[frame["experiment"] == name]
    totals = rows.groupby("variant")[["users", "conversions"]].sum()
    return analyse_experiment(name, [VariantTotals(v, int(r.users), int(r.conversions)) for v, r in totals.iterrows()],
                              days=rows["ds"].nunique())


@pytest.mark.parametrize("seed", [7, 11, 1, 2, 3])
def test_recall_sms_copy_ships_b_and_checkout_button_has_an_srm(seed):
    frame = experiments_frame(seed, START, END)
    sms = analysed(frame, "recall_sms_copy")
    (b,) = sms.variants
    # planted 8.6% vs 10.6% over 21 days of ~520 users per variant
    assert sms.days == 21 and 10_000 < b.users < 12_000
    assert b.control_rate == pytest.approx(0.086, abs=0.006) and b.rate == pytest.approx(0.106, abs=0.006)
    assert not sms.srm and b.verdict == "ship"
    button = analysed(frame, "checkout_button")
    # planted 45/55: ~7,560 vs ~9,240 users over 14 days
    assert button.days == 14
    share = button.users["A"] / sum(button.users.values())
    assert share == pytest.approx(0.45, abs=0.01)
    assert button.srm_p < 1e-6 and button.variants[0].verdict == "invalid"


def test_frame_shape_and_revenue():
    frame = experiments_frame(7, START, END)
    assert list(frame.columns) == [c.name for c in warehouse.raw_experiments.columns]
    assert len(frame) == 2 * 21 + 2 * 14
    assert frame["ds"].max() == END
    assert (frame["conversions"] <= frame["users"]).all()
    sms = frame[frame["experiment"] == "recall_sms_copy"]
    assert sms["revenue_sum"].isna().all()
    button = frame[frame["experiment"] == "checkout_button"]
    assert button["revenue_sum"].notna().all() and (button["revenue_sum_squares"] > 0).all()
    # a window shorter than an experiment clips it to the window
    assert experiments_frame(7, END - timedelta(days=9), END)["ds"].nunique() == 10


def experiment_rows(engine):
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(sa.select(warehouse.raw_experiments)).mappings().all())


def test_both_loads_write_the_same_experiments(tmp_path):
    one_go = warehouse.create_engine(f"sqlite:///{tmp_path}/one.sqlite")
    chunked = warehouse.create_engine(f"sqlite:///{tmp_path}/chunked.sqlite")
    try:
        load_demo(one_go, users=1500, days=30, seed=11, end_date=END)
        load_demo(one_go, users=1500, days=30, seed=11, end_date=END)  # a rerun replaces, not appends
        load_demo_chunked(chunked, users=1500, days=30, seed=11, end_date=END, chunk_days=15)
        a, b = experiment_rows(one_go), experiment_rows(chunked)
    finally:
        one_go.dispose()
        chunked.dispose()
    assert len(a) == 2 * 21 + 2 * 14
    expected = experiments_frame(11, END - timedelta(days=29), END)
    assert a["users"].tolist() == expected["users"].tolist()
    pd.testing.assert_frame_equal(a, b)
