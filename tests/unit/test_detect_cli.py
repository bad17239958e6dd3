"""`opscadence detect`: the flows' detector on any long-format CSV."""

import csv
from datetime import date, timedelta

import pytest

from opscadence.cli import main
from opscadence.detection.detector import detect_long, read_series_csv

START = date(2026, 9, 1)


def write_series(path, rows, header=("ds", "metric", "value", "denominator")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def sample_rows():
    rows = []
    for n in range(42):
        day = START + timedelta(days=n)
        dau = 1000 + (200 if day.weekday() >= 5 else 0)
        if n == 40:
            dau = 600  # the incident
        rows.append((day.isoformat(), "dau", dau, ""))
        rows.append((day.isoformat(), "payment_success_rate", 0.985 if n != 41 else 0.85, 5000))
    return rows


def test_detect_writes_every_row_with_the_verdict(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_series(tmp_path / "in.csv", sample_rows())

    assert main(["detect", "--input", "in.csv", "--out", "out.csv"]) == 0

    with open(tmp_path / "out.csv", encoding="utf-8") as f:
        out = list(csv.DictReader(f))
    assert list(out[0]) == ["ds", "metric", "value", "expected", "lower", "upper", "is_anomaly", "direction", "score"]
    assert len(out) == 84
    flagged = {(r["ds"], r["metric"], r["direction"]) for r in out if r["is_anomaly"] == "True"}
    assert flagged == {((START + timedelta(days=40)).isoformat(), "dau", "drop"),
                       ((START + timedelta(days=41)).isoformat(), "payment_success_rate", "drop")}
    # Same code path as the flows: the same verdicts as calling the library directly.
    direct = detect_long(read_series_csv(tmp_path / "in.csv"))
    assert int(direct["is_anomaly"].sum()) == 2


def test_detect_to_stdout(tmp_path, capsys):
    write_series(tmp_path / "in.csv", sample_rows())
    assert main(["detect", "--input", str(tmp_path / "in.csv")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("ds,metric,value,expected") and len(lines) == 85


@pytest.mark.parametrize(("rows", "message"), [
    ([("2026-09-01", "dau", "12x", "")], "line 2, column value: '12x' is not a number"),
    ([("2026-09-01", "dau", "1", ""), ("2026-13-01", "dau", "1", "")], "line 3, column ds: '2026-13-01' is not a date"),
    ([("2026-09-01", "dau", "1", ""), ("2026-09-01", "dau", "2", "")], "line 3: duplicate (ds, metric) 2026-09-01, dau (first on line 2)"),
])
def test_bad_input_names_file_line_and_column(tmp_path, capsys, rows, message):
    write_series(tmp_path / "bad.csv", rows)
    assert main(["detect", "--input", str(tmp_path / "bad.csv")]) == 2
    err = capsys.readouterr().err
    assert message in err and "bad.csv" in err


def test_missing_columns(tmp_path, capsys):
    write_series(tmp_path / "bad.csv", [("2026-09-01", "1")], header=("ds", "value"))
    assert main(["detect", "--input", str(tmp_path / "bad.csv")]) == 2
    assert "missing column(s) metric" in capsys.readouterr().err
