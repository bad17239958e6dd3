"""The demo social app: deterministic, clean, without orders, and with its planted stories.

Every expected fact is recomputed here with pandas on the generated frames (or with SQL on a
loaded SQLite warehouse), independently of the generator.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from opscadence import warehouse
from opscadence.demo import DemoSocialApp, generate_social_frames, load_demo
from opscadence.metrics.catalog import required_tables

END = date(2026, 11, 24)
SIZE = {"users": 1500, "days": 21, "seed": 11, "end_date": END}
SOCIAL_EVENTS = {"session_start", "post_view", "like", "comment", "follow", "post", "share"}
INTERACTIONS = {"like", "comment", "follow", "post", "share"}


@pytest.fixture(scope="module")
def demo():
    return generate_social_frames(**SIZE)


@pytest.fixture(scope="module")
def frames(demo):
    return demo[0]


@pytest.fixture(scope="module")
def app(demo) -> DemoSocialApp:
    return demo[1]


def _daily(frames) -> pd.DataFrame:
    """Per day: DAU, sharers, engagement seconds, share rate and interaction time per DAU."""
    ev = frames["events"]
    out = pd.DataFrame({
        "dau": ev.groupby("ds")["visitor_id"].nunique(),
        "sharers": ev[ev["event_name"] == "share"].groupby("ds")["visitor_id"].nunique(),
        "engagement": ev.groupby("ds")["engagement_seconds"].sum(),
    }).fillna(0)
    out["share_rate"] = out["sharers"] / out["dau"]
    out["interaction_per_dau"] = out["engagement"] / out["dau"]
    return out


def _vs_last_week(series: pd.Series) -> dict[date, float]:
    values = dict(series.items())
    return {d: v / values[d - timedelta(days=7)] - 1 for d, v in values.items() if d - timedelta(days=7) in values}


# --- shape and determinism -------------------------------------------------------------------

def test_same_arguments_give_identical_frames_and_another_seed_does_not(frames):
    again, _ = generate_social_frames(**SIZE)
    assert set(again) == set(frames) == set(warehouse.RAW_TABLES)
    for key in frames:
        pd.testing.assert_frame_equal(frames[key], again[key], check_exact=True)
    other, _ = generate_social_frames(**{**SIZE, "seed": 12})
    assert not frames["events"].equals(other["events"])


def test_frames_have_the_raw_columns_and_only_the_required_tables_have_rows(frames, app):
    for key, table in warehouse.RAW_TABLES.items():
        assert list(frames[key].columns) == [c.name for c in table.columns], key
    assert {key for key, frame in frames.items() if len(frame)} == set(required_tables("social"))
    assert len(frames["orders"]) == 0 and len(frames["payments"]) == 0
    assert app.row_counts == {k: len(v) for k, v in frames.items()}
    assert app.start == END - timedelta(days=20) and app.end == END
    assert set(frames["events"]["ds"]) == {app.start + timedelta(days=i) for i in range(21)}


def test_events_are_social_and_clean(frames):
    ev = frames["events"]
    assert set(ev["event_name"]) == SOCIAL_EVENTS
    assert ev["event_id"].is_unique
    assert (ev["event_at"].dt.date == ev["ds"]).all()
    assert ev["engagement_seconds"].notna().all() and (ev["engagement_seconds"] >= 0).all()
    first = ev.sort_values(["event_at", "event_id"]).groupby("session_id")["event_name"].first()
    assert (first == "session_start").all()
    # interacting requires login: anonymous visitors only open the feed and view posts
    assert set(ev.loc[ev["user_id"].isna(), "event_name"]) <= {"session_start", "post_view"}
    assert (ev.groupby("session_id")["visitor_id"].nunique() == 1).all()
    bounce_rate = (ev.groupby("session_id").size() == 1).mean()
    assert 0.30 <= bounce_rate <= 0.40


def test_the_funnel_narrows_step_by_step(frames):
    ev = frames["events"]

    def visitors(names):
        return ev[ev["event_name"].isin(names)].groupby("ds")["visitor_id"].apply(set)

    visit, interact = visitors(SOCIAL_EVENTS), visitors(INTERACTIONS)
    post, share = visitors({"post"}), visitors({"share"})
    for ds in visit.index:
        # a share follows a post in its session, so sharers ⊆ posters ⊆ interactors ⊆ visitors
        assert share[ds] <= post[ds] <= interact[ds] <= visit[ds], ds
        assert len(visit[ds]) > len(interact[ds]) > len(post[ds]) > len(share[ds]) > 0, ds
    per_session = ev.groupby("session_id")["event_name"].agg(set)
    assert all("post" in names for names in per_session if "share" in names)


def test_interaction_time_per_dau_is_plausible(frames):
    daily = _daily(frames)
    assert daily["interaction_per_dau"].between(60, 240).all()  # one to four minutes a day


def test_no_personal_data(frames):
    assert frames["users"]["user_id"].str.fullmatch(r"u\d{8}").all()
    assert frames["events"]["visitor_id"].str.fullmatch(r"v[0-9a-f]{12}").all()
    phone = re.compile(r"(?<![0-9])1[3-9]\d{9}(?![0-9])")
    email = re.compile(r"[\w.+-]+@[\w-]+\.\w+")
    for key, frame in frames.items():
        for column in frame.columns:
            values = frame[column].dropna()
            if values.dtype == object:
                text = "\n".join(map(str, values.unique()))
                assert not email.search(text) and not phone.search(text), (key, column)


# --- planted stories --------------------------------------------------------------------------

def test_share_rate_drops_on_the_latest_day_and_on_ios(frames, app):
    daily = _daily(frames)
    change = _vs_last_week(daily["share_rate"])
    assert app.share_incident_day == app.end
    assert change[app.end] < -0.15  # the default rule: share_rate drop_vs_last_week 0.15
    # the last days before it, each with a week-earlier baseline, stay within the rule
    assert all(change[d] > -0.15 for d in change if app.end - timedelta(days=6) <= d < app.end)
    ev = frames["events"]

    def share_rate(day, on_ios):
        rows = ev[(ev["ds"] == day) & ((ev["platform"] == "ios") == on_ios)]
        return rows.loc[rows["event_name"] == "share", "visitor_id"].nunique() / rows["visitor_id"].nunique()

    week_before = app.end - timedelta(days=7)
    assert share_rate(app.end, True) < 0.25 * share_rate(week_before, True)  # sharing fails on ios
    assert share_rate(app.end, False) > 0.75 * share_rate(week_before, False)  # the other platforms share on


def test_dau_drop_day_and_low_ctr_channel(frames, app):
    daily = _daily(frames)
    assert app.dau_drop_day == app.end - timedelta(days=9)
    assert _vs_last_week(daily["dau"])[app.dau_drop_day] < -0.15
    ads = frames["ad_spend"].groupby("channel")[["clicks", "impressions"]].sum()
    ctr = ads["clicks"] / ads["impressions"]
    assert app.low_ctr_channel == "wechat" and ctr["wechat"] < 0.01
    assert (ctr.drop("wechat") > 0.01).all()


def test_planted_lines_name_the_days(app):
    lines = app.planted()
    assert str(app.end) in lines[0] and "share rate" in lines[0]
    assert str(app.dau_drop_day) in lines[1] and "wechat" in lines[2]


def test_incident_day_feedback_complains_about_sharing(frames, app):
    fb = frames["feedback"]
    about_sharing = fb["text"].str.contains("分享|[Ss]har", regex=True)
    assert about_sharing[fb["ds"] == app.end].sum() >= 5
    assert about_sharing[fb["ds"] != app.end].sum() == 0


def test_loading_the_app_over_a_shop_clears_its_orders(tmp_path):
    engine = warehouse.create_engine(f"sqlite:///{tmp_path}/w.sqlite")
    try:
        load_demo(engine, **SIZE)  # the e-commerce shop first
        app = load_demo(engine, **SIZE, vertical="social")
        with engine.connect() as conn:
            counts = {key: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                      for key, table in warehouse.RAW_TABLES.items()}
            names = set(conn.execute(sa.select(warehouse.raw_events.c.event_name).distinct()).scalars())
        assert counts == app.row_counts and counts["orders"] == counts["payments"] == 0
        assert names == SOCIAL_EVENTS
    finally:
        engine.dispose()
    with pytest.raises(ValueError, match="unknown vertical 'games'"):
        load_demo(warehouse.create_engine(f"sqlite:///{tmp_path}/x.sqlite"), **SIZE, vertical="games")
