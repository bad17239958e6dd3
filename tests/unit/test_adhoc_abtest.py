"""`opscadence abtest`: A/B verdicts of a CSV of totals; bad input named by file, line, column."""

import json

import pytest

from opscadence.cli import main

FIELDS = ["experiment", "variant", "control", "users", "conversions", "rate", "control_rate", "lift", "ci_low",
          "ci_high", "p_value", "chance_to_win", "risk", "srm_p", "verdict"]


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_one_object_per_variant_against_the_first_row(tmp_path, capsys):
    src = write(tmp_path / "ab.csv", "experiment,variant,users,conversions\n"
                                     "sms,A,1000,100\nsms,B,1000,120\nsms,C,1000,80\n"
                                     "button,x,4500,900\nbutton,y,5500,1100\n")
    assert main(["abtest", "--input", src, "--out", str(tmp_path / "out.json")]) == 0
    out = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert [(r["experiment"], r["variant"], r["control"]) for r in out] == [
        ("sms", "B", "A"), ("sms", "C", "A"), ("button", "y", "x")]
    assert all(set(FIELDS) <= set(r) for r in out)
    b, c, y = out
    # 100/1000 vs 120/1000: lift 0.2, sd √0.02352 = 0.15336, Welch t with ~1985 dof (test_abtest)
    assert (b["rate"], b["control_rate"]) == (0.12, 0.1)
    assert b["lift"] == pytest.approx(0.2) and b["p_value"] == pytest.approx(0.19235, abs=5e-5)
    assert b["ci_low"] == pytest.approx(-0.10077, abs=5e-5) and b["ci_high"] == pytest.approx(0.50077, abs=5e-5)
    assert b["chance_to_win"] == pytest.approx(0.90390, abs=5e-5) and b["verdict"] == "keep_running"
    assert c["lift"] == pytest.approx(-0.2) and c["chance_to_win"] < 0.1
    # three variants of 1000: no mismatch; 4500/5500: χ² = 100, p = erfc(√50) ≈ 1.5e-23 → invalid
    assert b["srm_p"] == pytest.approx(1.0)
    assert y["srm_p"] < 1e-20 and y["verdict"] == "invalid"
    assert "3 comparisons" in capsys.readouterr().err


def test_control_column_and_revenue(tmp_path, capsys):
    src = write(tmp_path / "ab.csv",
                "experiment,variant,users,conversions,revenue_sum,revenue_sum_squares,control\n"
                "sms,B,10000,1060,21200,90000,\n"
                "sms,A,10000,860,17200,70000,yes\n")
    assert main(["abtest", "--input", src]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert (record["variant"], record["control"]) == ("B", "A")
    # 860/10000 vs 1060/10000: +23.3%, t ≈ 4.8 → p < 0.001, chance ≈ 1 → ship
    assert record["lift"] == pytest.approx(0.2 / 0.86) and record["p_value"] < 0.001
    assert record["verdict"] == "ship"
    # revenue per user 2.12 vs 1.72: lift 0.4/1.72 = +23.3%
    assert record["revenue_per_user"] == 2.12 and record["revenue_lift"] == pytest.approx(0.4 / 1.72)


@pytest.mark.parametrize(("text", "message"), [
    ("experiment,variant,users\nsms,A,10\n", "missing column(s) conversions"),
    ("", "empty file"),
    ("experiment,variant,users,conversions\nsms,A,1000,100\nsms,B,1000,12x\n",
     "line 3, column conversions: '12x' is not a whole number"),
    ("experiment,variant,users,conversions\nsms,A,100,120\nsms,B,100,10\n",
     "line 2, column conversions: 120 conversions is more than the 100 users"),
    ("experiment,variant,users,conversions\nsms,A,0,0\nsms,B,100,10\n",
     "line 2, column users: 0 users: a variant needs at least one user"),
    ("experiment,variant,users,conversions\nsms,A,100,10\nsms,B,100,10\nsolo,A,100,10\n",
     "line 4, column experiment: experiment 'solo' has one variant only"),
    ("experiment,variant,users,conversions\nsms,A,100,10\nsms,A,100,12\n",
     "line 3: duplicate (experiment, variant) sms, A (first on line 2)"),
    ("experiment,variant,users,conversions,control\nsms,A,100,10,1\nsms,B,100,12,true\n",
     "line 3, column control: experiment 'sms' has a second control (the first on line 2)"),
    ("experiment,variant,users,conversions,control\nsms,A,100,10,maybe\nsms,B,100,12,\n",
     "line 2, column control: 'maybe' is not 1/true/yes or 0/false/no"),
    ("experiment,variant,users,conversions,revenue_sum\nsms,A,100,10,5\nsms,B,100,12,6\n",
     "missing column(s) revenue_sum_squares"),
    ("experiment,variant,users,conversions,revenue_sum,revenue_sum_squares\nsms,A,100,10,50,10\nsms,B,100,12,6,9\n",
     "line 2, column revenue_sum_squares: 10 is below revenue_sum²/users = 25: not a sum of squares"),
    ("experiment,variant,users,conversions,revenue_sum,revenue_sum_squares\nsms,A,100,10,5,\nsms,B,100,12,6,9\n",
     "line 2, column revenue_sum_squares: empty, but the other revenue column is not"),
    ("experiment,variant,users,conversions,revenue_sum,revenue_sum_squares\nsms,A,100,10,5,1\nsms,B,100,12,,\n",
     "line 3, column revenue_sum: empty, but other variants of experiment 'sms' have revenue"),
])
def test_bad_input_is_one_line_naming_file_line_and_column(tmp_path, capsys, text, message):
    src = write(tmp_path / "bad.csv", text)
    assert main(["abtest", "--input", src]) == 2
    err = capsys.readouterr().err
    assert message in err and "bad.csv" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
