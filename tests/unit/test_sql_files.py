"""SQL conventions: every file states its grain, keeps keywords lowercase, and binds its values."""

import re

import pytest

from opscadence.core.resources import resource_dir
from opscadence.core.sqlfiles import load_sql, read_sql_frame, run_sql, sql_names

KEYWORDS = r"\b(SELECT|FROM|WHERE|GROUP BY|ORDER BY|JOIN|WITH|UNION ALL|CASE|WHEN|COUNT|SUM|DISTINCT)\b"


@pytest.mark.parametrize("name", sql_names())
def test_sql_file_conventions(name):
    text = (resource_dir("sql") / f"{name}.sql").read_text(encoding="utf-8")
    assert text.startswith("-- grain: one row per"), "header comment must state the grain"
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    assert not re.search(KEYWORDS, code), "keywords are lowercase"
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("--"))
    assert not re.search(r"(?<![:\w]):\w", comments), "no bind-parameter syntax inside comments"
    assert "{" not in code and "%s" not in code, "values are bound, never formatted in"


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
