"""`opscadence rfm`: the weekly brief's RFM on any order CSV; bad input is one line and exit 2."""

import csv
import stat

import pytest

from opscadence.cli import main

HEADER = ("order_id", "customer_id", "order_time", "amount", "status")
ROWS = [
    ("o1", "u1", "2026-11-29 10:00", "100.00", "paid"),
    ("o2", "u1", "2026-11-01 08:00:00", "50.50", "refunded"),  # paid then refunded: counts
    ("o3", "u2", "2026-11-20", "30", " Paid "),  # case and spaces do not matter
    ("o4", "u2", "2026-11-27", "999", "cancelled"),
    ("o5", "u3", "2026-10-30 09:00", "20", "paid"),
    ("o6", "u3", "2026-10-30 21:00", "20", "paid"),
    ("o7", "u4", "2026-11-15", "500", "created"),
    ("o8", "u5", "2026-11-30", "70", "paid"),  # after --as-of
]


def write_csv(path, rows, header=HEADER):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_rfm_writes_one_row_per_paying_customer(tmp_path, capsys):
    write_csv(tmp_path / "orders.csv", ROWS)
    out = tmp_path / "rfm.csv"
    assert main(["rfm", "--orders", str(tmp_path / "orders.csv"), "--as-of", "2026-11-29", "--out", str(out)]) == 0
    with open(out, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score",
                             "segment"]
    # as tests/unit/test_rfm.py works out by hand: u1 0 days, 2 orders, 150.50 (R4 F2 M4, potential loyalist);
    # u2 9 days, 1 order, 30 (R2 F1 M1); u3 30 days, 2 orders, 40 (R1 F2 M2); both hibernating
    got = [(r["customer_id"], int(r["recency_days"]), int(r["frequency"]), float(r["monetary"]), r["r_score"],
            r["f_score"], r["m_score"], r["segment"]) for r in rows]
    assert got == [("u1", 0, 2, 150.5, "4", "2", "4", "potential_loyalists"),
                   ("u2", 9, 1, 30.0, "2", "1", "1", "hibernating"),
                   ("u3", 30, 2, 40.0, "1", "2", "2", "hibernating")]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds the customers' ids
    err = capsys.readouterr().err
    assert "3 customers as of 2026-11-29 from 8 orders (1 dated after it left out)" in err


def test_rfm_without_status_to_stdout(tmp_path, capsys):
    write_csv(tmp_path / "orders.csv", [r[:4] for r in ROWS], header=HEADER[:4])
    assert main(["rfm", "--orders", str(tmp_path / "orders.csv"), "--as-of", "2026-11-29"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    # every order counts: u1, u2 (o3 and o4: 30 + 999), u3, u4; u5's order is after as-of
    assert lines[0].startswith("customer_id,recency_days") and len(lines) == 1 + 4
    assert lines[2].startswith("u2,2,2,1029.0,")


@pytest.mark.parametrize(("rows", "message"), [
    ([("o1", "u1", "2026-11-01", "12x", "paid")], "line 2, column amount: '12x' is not a number"),
    ([("o1", "u1", "2026-11-01", "1", "paid"), ("o2", "u1", "2026-11-31", "1", "paid")],
     "line 3, column order_time: '2026-11-31' is not a date or date-time"),
    ([("o1", "u1", "2026-11-01", "1", "paid"), ("o1", "u2", "2026-11-02", "1", "paid")],
     "line 3: duplicate (order_id) o1 (first on line 2)"),
    ([("o1", "u1", "2026-11-01", "1", "shipped")],
     "line 2, column status: 'shipped' is not one of created, paid, cancelled, refunded"),
    ([("o1", "", "2026-11-01", "1", "paid")], "line 2, column customer_id: empty"),
    ([("o1", "u1", "2026-11-01", "-5", "paid")], "line 2, column amount: '-5' is below 0"),
])
def test_bad_input_names_file_line_and_column(tmp_path, capsys, rows, message):
    write_csv(tmp_path / "bad.csv", rows)
    assert main(["rfm", "--orders", str(tmp_path / "bad.csv"), "--as-of", "2026-11-29"]) == 2
    err = capsys.readouterr().err
    assert message in err and "bad.csv" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_column_empty_file_and_bad_as_of(tmp_path, capsys):
    write_csv(tmp_path / "bad.csv", [("o1", "u1", "3")], header=("order_id", "customer_id", "amount"))
    assert main(["rfm", "--orders", str(tmp_path / "bad.csv"), "--as-of", "2026-11-29"]) == 2
    assert "bad.csv: missing column(s) order_time (need order_id,customer_id,order_time,amount[,status])" in (
        capsys.readouterr().err)
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    assert main(["rfm", "--orders", str(tmp_path / "empty.csv"), "--as-of", "2026-11-29"]) == 2
    assert "empty.csv: empty file" in capsys.readouterr().err
    write_csv(tmp_path / "header.csv", [])
    assert main(["rfm", "--orders", str(tmp_path / "header.csv"), "--as-of", "2026-11-29"]) == 2
    assert "header.csv: no data rows after the header" in capsys.readouterr().err
    write_csv(tmp_path / "ok.csv", ROWS)
    with pytest.raises(SystemExit) as exit_info:
        main(["rfm", "--orders", str(tmp_path / "ok.csv"), "--as-of", "2026-13-01"])
    assert exit_info.value.code == 2
    assert "--as-of: not a date (YYYY-MM-DD): '2026-13-01'" in capsys.readouterr().err
    assert main(["rfm", "--orders", str(tmp_path / "ok.csv"), "--as-of", "2026-11-29",
                 "--out", str(tmp_path / "no" / "such" / "out.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
