"""SQL conventions (every file, staging included, states its grain, keeps keywords lowercase
and binds its values) and the loader's includes and fan-out macro."""

import re
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from opscadence import warehouse
from opscadence.core import sqlfiles
from opscadence.core.resources import resource_dir
from opscadence.core.sqlfiles import includes, load_sql, read_sql_frame, run_sql, sql_names

KEYWORDS = r"\b(SELECT|FROM|WHERE|GROUP BY|ORDER BY|JOIN|WITH|UNION ALL|CASE|WHEN|COUNT|SUM|DISTINCT)\b"
FAN_OUT = r"\{\{ fan_out\('\w+', '\w+'\) \}\}"  # the loader's one macro: names, no values
STAGING = [name for name in sql_names() if name.startswith("staging/")]


@pytest.mark.parametrize("name", sql_names())
def test_sql_file_conventions(name):
    text = (resource_dir("sql") / f"{name}.sql").read_text(encoding="utf-8")
    assert text.startswith("-- grain: one row per"), "header comment must state the grain"
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    assert not re.search(KEYWORDS, code), "keywords are lowercase"
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("--"))
    assert not re.search(r"(?<![:\w]):\w", comments), "no bind-parameter syntax inside comments"
    code = re.sub(FAN_OUT, "", code)
    assert "{" not in code and "%s" not in code, "values are bound, never formatted in"
    expanded = str(load_sql(name))
    assert not re.search(KEYWORDS, expanded) and "{" not in expanded, "the expansion keeps the conventions"


def test_the_staging_layer_exists_and_each_file_is_one_select():
    assert {"staging/stg_paid_orders", "staging/stg_user_region", "staging/stg_payment_attempts"} <= set(STAGING)
    for name in STAGING:
        code = [line for line in (resource_dir("sql") / f"{name}.sql").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.lstrip().startswith("--")]
        assert code[0] == "select", f"{name}: a staging file is one select, read as a subquery"
        assert not re.search(r"\b(with|order by|limit)\b", "\n".join(code)), name


def test_every_include_resolves_and_every_staging_file_is_read():
    included = set()
    for name in sql_names():
        for target in includes(name):
            assert target in sql_names(), f"sql/{name}.sql includes {target}"
            relation = target.rsplit("/", 1)[-1]
            expanded = str(load_sql(name))
            # read as "(<select>) as <alias>", never left as a table name
            assert not re.search(rf"\b(from|join)\s+{relation}\b", expanded), (name, relation)
            included.add(target)
    assert set(STAGING) <= included, "a staging file nobody includes is dead code"
    # the paid-order rule is written once: only its staging file names the statuses
    assert [n for n in sql_names() if "'refunded'" in (resource_dir("sql") / f"{n}.sql").read_text()] == [
        "staging/stg_paid_orders"]
    assert "status in ('paid', 'refunded')" in str(load_sql("watch/orders_so_far"))


WATCH_PARAMS = dict(ds=date(2026, 11, 24), cutoff=datetime(2026, 11, 24, 15), ds_last_week=date(2026, 11, 17),
                    cutoff_last_week=datetime(2026, 11, 17, 15), window_start=datetime(2026, 11, 24, 14),
                    window_start_last_week=datetime(2026, 11, 17, 14))


@pytest.mark.parametrize("name", sql_names())
def test_every_file_runs_expanded_on_each_warehouse(engine, name):
    params = dict(start=date(2026, 11, 1), end=date(2026, 11, 25), mau_start=date(2026, 10, 3),
                  lookback_start=date(2026, 10, 2), **WATCH_PARAMS)
    with engine.connect() as conn:
        rows = run_sql(conn, name, **params)  # an empty warehouse: the SQL parses and binds
    assert rows == [] or name.startswith("watch/")  # the watch answers one row of zero counts
    if name.startswith("watch/"):
        assert len(rows) == 1 and set(rows[0].values()) == {0}


def _order(n, ds, status, at_hour=10, platform=None, channel=None, user="u1"):
    return {"ds": ds, "order_id": f"o{n}", "user_id": user, "order_at": datetime(ds.year, ds.month, ds.day, at_hour),
            "amount": 10, "status": status, "platform": platform, "channel": channel}


def test_paid_orders_are_defined_once_for_the_marts_and_the_watch(engine):
    d, week_ago = date(2026, 11, 24), date(2026, 11, 17)
    orders = [
        _order(1, d, "paid", platform="ios", channel="douyin"),
        _order(2, d, "refunded"),  # paid, then refunded: still a paid order
        _order(3, d, "cancelled"),
        _order(4, d, "created"),
        _order(5, d, "paid", at_hour=16),  # after the 15:00 cutoff
        _order(6, week_ago, "refunded"),
        _order(7, week_ago, "cancelled"),
    ]
    with engine.begin() as conn:
        conn.execute(warehouse.raw_orders.insert(), orders)
    with engine.connect() as conn:
        staged = run_sql(conn, "staging/stg_paid_orders")
        watch = run_sql(conn, "watch/orders_so_far", **WATCH_PARAMS)
    # paid or refunded: o1, o2, o5 on D and o6 a week before; o3, o4, o7 are not paid
    assert sorted(r["order_id"] for r in staged) == ["o1", "o2", "o5", "o6"]
    # missing platform and channel read 'unknown' and 'direct'
    assert {r["order_id"]: (r["platform"], r["channel"]) for r in staged}["o2"] == ("unknown", "direct")
    assert {r["order_id"]: (r["platform"], r["channel"]) for r in staged}["o1"] == ("ios", "douyin")
    # before 15:00: o1, o2 on D (o5 is later); o6 last week
    assert watch == [{"orders_so_far": 2, "orders_last_week": 1}]


def test_missing_parameter_is_a_clear_error(sqlite_engine):
    with sqlite_engine.connect() as conn, pytest.raises(TypeError, match="needs parameters"):
        run_sql(conn, "kpi/session_facts")
    with sqlite_engine.connect() as conn, pytest.raises(TypeError, match=r"needs parameters \['end'\]"):
        read_sql_frame(conn, "kpi/visitor_days", mau_start=None)


def test_unknown_sql_file():
    with pytest.raises(FileNotFoundError, match="sql/nope.sql"):
        load_sql("nope")


def test_result_frames_cut_a_result_into_numbered_batches(sqlite_engine):
    import sqlalchemy as sa

    from opscadence.core.sqlfiles import result_frames

    with sqlite_engine.connect() as conn:
        values = " union all ".join(f"select {n} as n" for n in range(7))
        frames = list(result_frames(conn.execute(sa.text(values)), batch=3))
        assert [list(f["n"]) for f in frames] == [[0, 1, 2], [3, 4, 5], [6]]
        assert [list(f.index) for f in frames] == [[0, 1, 2], [3, 4, 5], [6]]
        exact = list(result_frames(conn.execute(sa.text(values + " union all select 7")), batch=4))
        assert [len(f) for f in exact] == [4, 4]  # no trailing empty frame
        empty = list(result_frames(conn.execute(sa.text("select 1 as n where 0")), batch=3))
        assert len(empty) == 1 and list(empty[0].columns) == ["n"] and empty[0].empty


# --- the loader's expansion, on SQL files of a scratch directory ------------------------------

@pytest.fixture
def scratch_sql(tmp_path, monkeypatch):
    """Point the loader at tmp_path/sql (files written by the test), with its caches empty."""
    root = tmp_path / "sql"

    def write(name, text):
        path = root / f"{name}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    monkeypatch.setattr(sqlfiles, "resource_dir", lambda _name: root)
    sqlfiles._read.cache_clear()
    sqlfiles._source.cache_clear()
    yield write
    sqlfiles._read.cache_clear()
    sqlfiles._source.cache_clear()


def test_a_missing_include_names_both_files(scratch_sql):
    scratch_sql("kpi/broken", "-- grain: one row per x\n-- include: staging/stg_nope\nselect 1 as x from stg_nope\n")
    with pytest.raises(FileNotFoundError, match=r"sql/kpi/broken\.sql includes staging/stg_nope, "
                                                r"but there is no SQL file sql/staging/stg_nope\.sql"):
        load_sql("kpi/broken")


def test_a_missing_include_deeper_down_names_the_file_that_includes_it(scratch_sql):
    scratch_sql("staging/stg_a", "-- grain: one row per a\n-- include: staging/stg_gone\nselect a from stg_gone\n")
    scratch_sql("kpi/q", "-- grain: one row per a\n-- include: staging/stg_a\nselect a from stg_a\n")
    with pytest.raises(FileNotFoundError, match=r"sql/staging/stg_a\.sql includes staging/stg_gone"):
        load_sql("kpi/q")


def test_an_include_never_read_and_a_cycle_are_errors(scratch_sql):
    scratch_sql("staging/stg_a", "-- grain: one row per a\nselect 1 as a\n")
    scratch_sql("kpi/unread", "-- grain: one row per a\n-- include: staging/stg_a\n"
                              "-- (a comment saying from stg_a does not read it)\nselect 1 as a\n")
    with pytest.raises(ValueError, match=r"sql/kpi/unread\.sql includes staging/stg_a but never reads it"):
        load_sql("kpi/unread")
    scratch_sql("staging/stg_x", "-- grain: one row per x\n-- include: staging/stg_y\nselect x from stg_y\n")
    scratch_sql("staging/stg_y", "-- grain: one row per y\n-- include: staging/stg_x\nselect x from stg_x\n")
    with pytest.raises(ValueError, match=r"cycle: sql/staging/stg_x\.sql -> sql/staging/stg_y\.sql -> "
                                         r"sql/staging/stg_x\.sql"):
        load_sql("staging/stg_x")


def test_each_read_of_an_include_is_its_select_with_the_shared_binds(scratch_sql, sqlite_engine):
    scratch_sql("staging/stg_small", "-- grain: one row per n\n-- the numbers from :low\n"
                                     "select value as n\nfrom numbers\nwhere value >= :low\n")
    scratch_sql("kpi/pairs", "-- grain: one row per pair\n-- include: staging/stg_small\n"
                             "-- reads from stg_small twice\n"
                             "select a.n as a, b.n as b\nfrom stg_small as a\n"
                             "inner join stg_small as b  -- the same rows\n    on b.n = a.n + 1\n")
    text = str(load_sql("kpi/pairs"))
    assert text.count("from numbers") == 2 and ") as a\n" in text and ") as b  -- the same rows" in text
    assert "-- reads from stg_small twice" in text  # comments are left as they are
    assert "the numbers from" not in text  # the included file's header is not copied
    with sqlite_engine.begin() as conn:
        conn.execute(sa.text("create table numbers (value integer)"))
        conn.execute(sa.text("insert into numbers values (1), (2), (3), (4)"))
        # values >= 2: 2, 3, 4; pairs (n, n + 1) among them: (2, 3), (3, 4)
        assert sorted((r["a"], r["b"]) for r in run_sql(conn, "kpi/pairs", low=2)) == [(2, 3), (3, 4)]
        with pytest.raises(TypeError, match=r"needs parameters \['low'\]"):
            run_sql(conn, "kpi/pairs")  # the include's bind is the query's


def test_fan_out_unions_the_family_rows_by_each_registry_dimension(scratch_sql):
    scratch_sql("kpi/spend", "-- grain: one row per x\nwith by_dimension as (\n"
                             "    {{ fan_out('ads', 'spend') }}\n)\nselect * from by_dimension\n")
    # ads are split by channel only (metrics/dimensions.py): 'all' plus one branch
    assert str(load_sql("kpi/spend")) == (
        "-- grain: one row per x\nwith by_dimension as (\n"
        "    select 'all' as dimension, 'all' as dimension_value, spend.* from spend\n"
        "    union all\n"
        "    select 'channel', spend.channel, spend.* from spend\n"
        ")\nselect * from by_dimension"
    )
    scratch_sql("kpi/bad_family", "-- grain: one row per x\nselect * from ({{ fan_out('social', 'x') }}) as t\n")
    with pytest.raises(ValueError, match=r"sql/kpi/bad_family\.sql: unknown measure family 'social'"):
        load_sql("kpi/bad_family")
    scratch_sql("kpi/bad_macro", "-- grain: one row per x\nselect {{ ref('x') }}\n")
    with pytest.raises(ValueError, match=r"sql/kpi/bad_macro\.sql: unknown macro"):
        load_sql("kpi/bad_macro")
