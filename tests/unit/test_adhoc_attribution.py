"""`opscadence attribution`: ChannelAttribution's path table in, attributed conversions out;
bad input is one line naming file, line and column, exit 2."""

import csv

import pytest

from opscadence.cli import main

HEADER = ("path", "total_conversions", "total_conversion_value", "total_null")
# The hand table (as in test_attribution, SMALL plus a direct path):
#   a > b    1 conversion, value 10, 1 null
#   a        0, 0, 1
#   b        1, 4, 0
#   direct   2, 6, 0
ROWS = [("a > b", 1, 10, 1), ("a", 0, 0, 1), ("b", 1, 4, 0), ("direct", 2, 6, 0)]


def write(path, rows, header=HEADER):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if header:
            writer.writerow(header)
        writer.writerows(rows)


def read(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def by(rows, model, column="conversions"):
    return {r["channel"]: round(float(r[column]), 6) for r in rows if r["model"] == model}


def test_all_models_to_a_file(tmp_path, capsys):
    write(tmp_path / "paths.csv", ROWS)
    assert main(["attribution", "--journeys", str(tmp_path / "paths.csv"), "--out", str(tmp_path / "out.csv")]) == 0
    rows = read(tmp_path / "out.csv")
    assert list(rows[0]) == ["channel", "model", "conversions", "value", "removal_effect"]
    assert {r["model"] for r in rows} == {"first", "last", "linear", "position", "markov"}
    # first: a 1 (a > b), b 1, direct 2; last: plain, direct is a channel like any other
    assert by(rows, "first") == {"a": 1, "b": 1, "direct": 2}
    assert by(rows, "last") == {"a": 0, "b": 2, "direct": 2}
    # linear: a > b splits its 1 conversion (value 10) in halves
    assert by(rows, "linear") == {"a": 0.5, "b": 1.5, "direct": 2}
    assert by(rows, "linear", "value") == {"a": 5, "b": 9, "direct": 6}
    # markov: start->a 3, start->b 1, start->direct 2; a->b 2, a->null 1; b->conv 2, b->null 1;
    # direct->conv 2. P(conv) = 3/6 * 2/3 * 2/3 + 1/6 * 2/3 + 2/6 = 2/9 + 1/9 + 3/9 = 2/3
    # without a: 1/9 + 3/9 = 4/9 -> 1 - (4/9)/(2/3) = 1/3; without b: 3/9 -> 1/2; without direct: 3/9 -> 1/2
    # 4 conversions shared 1/3 : 1/2 : 1/2 -> 1, 1.5, 1.5
    assert by(rows, "markov", "removal_effect") == {"a": round(1 / 3, 6), "b": 0.5, "direct": 0.5}
    assert by(rows, "markov") == {"a": 1, "b": 1.5, "direct": 1.5}
    assert all(r["removal_effect"] == "" for r in rows if r["model"] != "markov")
    assert "3 channels × 5 model(s) from 4 paths" in capsys.readouterr().err


def test_one_model_to_stdout_without_optional_columns(tmp_path, capsys):
    write(tmp_path / "paths.csv", [("a>b>b", 3), ("b", 1)], header=("path", "total_conversions"))
    assert main(["attribution", "--journeys", str(tmp_path / "paths.csv"), "--model", "linear"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    # a>b>b: 1/3 per touch of 3 conversions: a 1, b 2; plus b's own 1: b 3; no value column: empty
    assert lines == ["channel,model,conversions,value", "a,linear,1.0,", "b,linear,3.0,"]


def test_time_decay_is_refused(tmp_path, capsys):
    write(tmp_path / "paths.csv", ROWS)
    assert main(["attribution", "--journeys", str(tmp_path / "paths.csv"), "--model", "time_decay"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no touch times" in err


@pytest.mark.parametrize(("header", "rows", "message"), [
    (("path", "total_null"), [("a", 1)], "missing column(s) total_conversions"),
    (HEADER, [("a > b", 1, 2, 0), ("b", "two", 2, 0)], "line 3, column total_conversions: 'two' is not a whole number"),
    (HEADER, [("a > b", 1, "12x", 0)], "line 2, column total_conversion_value: '12x' is not a number"),
    (HEADER, [("a", 1, 1, 0), ("a >  > b", 1, 1, 0)], "line 3, column path: 'a >  > b' has an empty channel (touch 2 of 3)"),
    (HEADER, [("a > b >", 1, 1, 0)], "line 2, column path: 'a > b >' has an empty channel (touch 3 of 3)"),
    (HEADER, [("a", 1, 1, 0), ("b", -1, 1, 0)], "line 3, column total_conversions: '-1' is below 0"),
    (HEADER, [("a", 0, 0, 3)], "no path has a conversion"),
    (None, [], "empty file"),
])
def test_bad_input_is_one_line_with_exit_2(tmp_path, capsys, header, rows, message):
    write(tmp_path / "bad.csv", rows, header=header)
    assert main(["attribution", "--journeys", str(tmp_path / "bad.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert message in err and "bad.csv" in err
