"""`opscadence import`: a corpus of messy shop exports, each with its expected result or error.

The files are written by the tests themselves (small, and every byte visible here): encodings,
header aliases, currency formats, bad dates and amounts with their spreadsheet row numbers,
conflicting duplicates, formula-like cells, a binary file named .csv, a header-only file and
workbooks with two sheets.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

from opscadence import warehouse
from opscadence.cli import main
from opscadence.core.csvsafe import neutralise, safe_frame
from opscadence.core.privacy import pseudonym
from opscadence.imports import load_aliases, plan_import, write_import
from opscadence.imports.aliases import normalise
from opscadence.warehouse.inputs import input_checksums, record_inputs, stale_or_missing

TZ = "Asia/Shanghai"
KEY = b"k" * 32
ALIASES = load_aliases()

ORDERS_ZH = (
    "订单编号,买家ID,下单时间,实付金额,订单状态,渠道\n"
    "T1001,U1,2026-11-03 14:05,\"¥1,299.00\",交易成功,淘宝\n"
    "T1002,U2,2026/11/3 09:00:00,1299元,已退款,抖音\n"
    "T1003,U1,2026年11月4日 10:30,￥88.50,交易关闭,淘宝\n"
)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def plan(table: str, *paths: Path, timezone: str = TZ, aliases=ALIASES, sheet: str | None = None):
    return plan_import(table, list(paths), aliases=aliases, timezone=timezone, pseudonym_key=lambda: KEY, sheet=sheet)


def messages(p) -> list[str]:
    return [str(x) for x in p.problems]


def rows(engine, table: str) -> list[dict]:
    t = warehouse.RAW_TABLES[table]
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key.columns or t.c)).mappings()]


# --- encodings and separators ---------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_every_encoding_gives_the_same_rows(tmp_path, encoding):
    text = ORDERS_ZH.replace("¥", "￥")  # GBK has the full-width yuan sign only
    p = plan("orders", write(tmp_path / "orders.csv", text, encoding))
    assert p.ok, messages(p)
    assert p.frame["order_id"].tolist() == ["T1001", "T1002", "T1003"]
    assert p.frame["amount"].tolist() == [1299.0, 1299.0, 88.5]
    assert p.frame["status"].tolist() == ["paid", "refunded", "cancelled"]
    assert p.frame["channel"].tolist() == ["淘宝", "抖音", "淘宝"]  # Chinese text decoded, not mojibake


def test_gb18030_only_characters_and_tabs(tmp_path):
    # 𠮷 is outside GBK: a GB18030 four-byte sequence. The separator is a tab.
    text = ORDERS_ZH.replace(",", "\t").replace('"¥1\t299.00"', "1299").replace("淘宝", "𠮷店")
    p = plan("orders", write(tmp_path / "orders.tsv.csv", text, "gb18030"))
    assert p.ok, messages(p)
    assert p.frame["channel"].tolist() == ["𠮷店", "抖音", "𠮷店"]
    assert p.files[0].notes == ["tab-separated"]


# --- aliases and mapping files ----------------------------------------------------------------


def test_english_headers_and_header_normalisation(tmp_path):
    text = ("Order No, Customer ID ,ORDER TIME,Amount Paid,order status\n"
            "A-1,c1,2026-11-03T14:05:00,12.00,completed\n")
    p = plan("orders", write(tmp_path / "o.csv", text))
    assert p.ok, messages(p)
    assert p.files[0].mapped == {"order_id": "Order No", "user_id": "Customer ID", "order_at": "ORDER TIME",
                                 "amount": "Amount Paid", "status": "order status"}
    assert normalise("订单 ＩＤ") == normalise("订单id") == "订单id"  # full-width and spaces folded


def test_the_first_alias_wins_and_the_others_are_named(tmp_path):
    text = "订单号,会员ID,付款时间,下单时间,商品总价,实付金额,订单状态\nA1,u1,2026-11-03 15:00,2026-11-03 14:00,100,90,已付款\n"
    p = plan("orders", write(tmp_path / "o.csv", text))
    assert p.ok, messages(p)
    assert p.frame["order_at"].iloc[0] == pd.Timestamp("2026-11-03 14:00")  # 下单时间 comes before 付款时间
    assert p.frame["amount"].iloc[0] == 90.0  # 实付金额 before 商品总价
    assert p.files[0].unused == ["付款时间 (order_at, taken from 下单时间)", "商品总价 (amount, taken from 实付金额)"]


def test_a_mapping_file_adds_headers_and_values(tmp_path):
    mapping = write(tmp_path / "mapping.yaml", "columns:\n  orders:\n    order_id: [单据号]\n    amount: [成交价]\n"
                    "values:\n  orders:\n    status:\n      paid: [已签收了]\n")
    text = "单据号,买家ID,下单时间,成交价,订单状态\nX9,u1,2026-11-03 14:00,5,已签收了\nX10,u1,2026-11-03 15:00,6,待付款\n"
    without = plan("orders", write(tmp_path / "o.csv", text))
    assert not without.ok and without.problem_count == 1  # one problem naming both missing columns
    assert "no column for order_id (订单号/订单编号/订单ID/主订单编号); amount (" in messages(without)[0]
    p = plan("orders", tmp_path / "o.csv", aliases=load_aliases(mapping))
    assert p.ok, messages(p)
    assert p.frame[["order_id", "amount", "status"]].values.tolist() == [["X9", 5.0, "paid"], ["X10", 6.0, "created"]]


def test_a_bad_mapping_file_names_the_key(tmp_path):
    with pytest.raises(Exception, match=r"columns.orders.amout: orders has no column amout"):
        load_aliases(write(tmp_path / "m.yaml", "columns:\n  orders:\n    amout: [x]\n"))
    with pytest.raises(Exception, match=r"m2.yaml line 2, column 1: not valid YAML"):
        load_aliases(write(tmp_path / "m2.yaml", "columns: [\n:"))


def test_missing_required_columns_are_one_problem_listing_the_headers(tmp_path):
    p = plan("orders", write(tmp_path / "o.csv", "订单编号,金额说明,备注\nA1,x,y\n"))
    assert p.problem_count == 1
    msg = messages(p)[0]
    assert msg.startswith(f"{tmp_path / 'o.csv'} row 1: no column for user_id (")
    for column in ("order_at", "amount", "status"):
        assert f"; {column} (" in msg
    assert "the headers are: 订单编号, 金额说明, 备注" in msg


# --- values -------------------------------------------------------------------------------


@pytest.mark.parametrize(("cell", "amount"), [
    ("1299", 1299.0), ("1,299.00", 1299.0), ("¥1,299.00", 1299.0), ("￥1299", 1299.0), ("1299元", 1299.0),
    ("RMB 1,299.5", 1299.5), ("12,345,678.9", 12345678.9), ("-12.5", -12.5), ("１２９９", 1299.0),
])
def test_currency_formats(tmp_path, cell, amount):
    text = f"订单号,买家ID,下单时间,实付金额,订单状态\nA1,u1,2026-11-03 10:00,\"{cell}\",已付款\n"
    p = plan("orders", write(tmp_path / "o.csv", text))
    assert p.ok, messages(p)
    assert p.frame["amount"].iloc[0] == pytest.approx(amount)


@pytest.mark.parametrize(("cell", "expected", "ds"), [
    ("2026-11-03 14:05", "2026-11-03 14:05:00", "2026-11-03"),
    ("2026/11/3 14:05:00", "2026-11-03 14:05:00", "2026-11-03"),
    ("2026年11月3日 14:05", "2026-11-03 14:05:00", "2026-11-03"),
    ("2026年11月3日 14时05分", "2026-11-03 14:05:00", "2026-11-03"),
    ("2026-11-03", "2026-11-03 00:00:00", "2026-11-03"),
    ("2026-11-03T06:05:00Z", "2026-11-03 14:05:00", "2026-11-03"),  # 06:05 UTC = 14:05 in Shanghai (UTC+8)
    ("2026-11-03T20:30:00+00:00", "2026-11-04 04:30:00", "2026-11-04"),  # the next day in the shop's timezone
    ("2026-11-03T14:05:00+0800", "2026-11-03 14:05:00", "2026-11-03"),
    # epoch seconds: 2026-11-03 is day 20760 after 1970-01-01, so 06:05Z is 20760 * 86400 + 6 * 3600 + 5 * 60
    ("1793685900", "2026-11-03 14:05:00", "2026-11-03"),
    ("46329.5", "2026-11-03 12:00:00", "2026-11-03"),  # Excel serial: day 46329 = 2026-11-03, .5 = noon
])
def test_timestamp_formats_in_the_shops_timezone(tmp_path, cell, expected, ds):
    text = f"订单号,买家ID,下单时间,实付金额,订单状态\nA1,u1,{cell},1,已付款\n"
    p = plan("orders", write(tmp_path / "o.csv", text))
    assert p.ok, messages(p)
    assert p.frame["order_at"].iloc[0] == pd.Timestamp(expected)
    assert p.frame["ds"].iloc[0] == date.fromisoformat(ds)


def test_the_configured_timezone_decides_the_day(tmp_path):
    text = "订单号,买家ID,下单时间,实付金额,订单状态\nA1,u1,2026-11-03T20:30:00+00:00,1,已付款\n"
    p = plan("orders", write(tmp_path / "o.csv", text), timezone="UTC")
    assert p.frame["order_at"].iloc[0] == pd.Timestamp("2026-11-03 20:30")
    assert p.frame["ds"].iloc[0] == date(2026, 11, 3)


def test_bad_dates_and_amounts_name_the_spreadsheet_row_and_both_column_names(tmp_path):
    # Row 2 has a cell spanning two lines and row 3 is blank: a spreadsheet still shows the bad
    # amount on row 4 and the bad date on row 5 (a text editor would say lines 5 and 6).
    text = ("订单号,买家ID,下单时间,实付金额,订单状态,商品名称\n"
            "A1,u1,2026-11-03 10:00,10,已付款,\"杯子\n两只\"\n"
            "\n"
            "A2,u2,2026-11-03 11:00,\"1,29\",已付款,碗\n"
            "A3,u3,2026-02-30 10:00,5,已付款,碗\n"
            "A4,u4,11/03/2026,5x,已付款,碗\n"
            "A5,u5,2026-11-03 12:00,5,已签收吗,碗\n")
    p = plan("orders", write(tmp_path / "o.csv", text))
    f = tmp_path / "o.csv"
    assert messages(p) == [
        f"{f} row 4, column 实付金额 (amount): '1,29' is not an amount",
        f"{f} row 5, column 下单时间 (order_at): '2026-02-30 10:00' is not a date and time "
        "(e.g. 2026-11-03 14:05, 2026/11/3 14:05:00, 2026年11月3日 14:05)",
        f"{f} row 6, column 下单时间 (order_at): '11/03/2026' is not a date and time "
        "(e.g. 2026-11-03 14:05, 2026/11/3 14:05:00, 2026年11月3日 14:05)",
        f"{f} row 6, column 实付金额 (amount): '5x' is not an amount",
        f"{f} row 7, column 订单状态 (status): '已签收吗' is not a known status (known: paid, refunded, cancelled, "
        "created, and their aliases in opscadence/imports/aliases.yaml; a mapping file can add more)",
    ]
    assert p.frame.empty


def test_a_quoted_bad_value_has_phones_and_emails_masked(tmp_path):
    f = write(tmp_path / "o.csv", "订单号,买家ID,下单时间,实付金额,订单状态\nA1,u1,13812345678,a@b.com,已付款\n")
    assert messages(plan("orders", f)) == [
        f"{f} row 2, column 下单时间 (order_at): '[phone]' is not a date and time "
        "(e.g. 2026-11-03 14:05, 2026/11/3 14:05:00, 2026年11月3日 14:05)",
        f"{f} row 2, column 实付金额 (amount): '[email]' is not an amount"]


def test_an_empty_required_cell_is_named(tmp_path):
    p = plan("orders", write(tmp_path / "o.csv", "订单号,买家ID,下单时间,实付金额,订单状态\nA1,,2026-11-03 10:00,1,已付款\n"))
    assert messages(p) == [f"{tmp_path / 'o.csv'} row 2, column 买家ID (user_id): empty; every row needs a value"]


# --- duplicates -----------------------------------------------------------------------------


def test_identical_duplicates_are_counted_and_conflicting_ones_name_both_rows(tmp_path):
    head = "订单号,买家ID,下单时间,实付金额,订单状态\n"
    same = write(tmp_path / "a.csv", head + "A1,u1,2026-11-03 10:00,10,已付款\nA1,u1,2026-11-03 10:00,10.00,交易成功\n")
    p = plan("orders", same)
    assert p.ok and len(p.frame) == 1 and p.identical_duplicates == 1  # 10 = 10.00, 已付款 = 交易成功 = paid
    other = write(tmp_path / "b.csv", head + "B7,u9,2026-11-03 10:00,1,已付款\nA1,u1,2026-11-03 10:00,12,已付款\n")
    p = plan("orders", same, other)
    assert messages(p) == [f"{same} row 2: order_id A1 appears again in {other} row 3 with a different amount; "
                           "fix one of the two rows"]
    within = write(tmp_path / "c.csv", head + "A1,u1,2026-11-03 10:00,10,已付款\nA1,u1,2026-11-03 10:00,10,已退款\n")
    assert messages(plan("orders", within)) == [
        f"{within} row 2: order_id A1 appears again in row 3 with a different status; fix one of the two rows"]


def test_a_users_duplicate_does_not_show_the_user_id(tmp_path):
    f = write(tmp_path / "u.csv", "用户ID,注册时间\nsecret-user,2026-11-03\nsecret-user,2026-11-04\n")
    (msg,) = messages(plan("users", f))
    assert "secret-user" not in msg and "user_id (not shown)" in msg and "different signup_at" in msg


# --- formula-like cells and CSV injection -----------------------------------------------------


def test_formula_like_cells_are_kept_as_text(tmp_path):
    text = ('订单号,买家ID,下单时间,实付金额,订单状态,渠道\n'
            'A1,u1,2026-11-03 10:00,1,已付款,"=HYPERLINK(""http://x"",""y"")"\n'
            'A2,u1,2026-11-03 10:00,1,已付款,@SUM(1)\n'
            'A3,u1,2026-11-03 10:00,1,已付款,+cmd\n')
    p = plan("orders", write(tmp_path / "o.csv", text))
    assert p.frame["channel"].tolist() == ['=HYPERLINK("http://x","y")', "@SUM(1)", "+cmd"]


def test_the_csv_the_project_writes_neutralises_formulas():
    assert neutralise("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert [neutralise(v) for v in ["+cmd", "-2+3", "@SUM(A1)", "\tx", "＝1+1"]] == \
        ["'+cmd", "'-2+3", "'@SUM(A1)", "'\tx", "'＝1+1"]
    assert [neutralise(v) for v in ["-12.5", "+8613800000000", "plain", 5, None]] == \
        ["-12.5", "+8613800000000", "plain", 5, None]  # numbers cannot be formulas
    frame = safe_frame(pd.DataFrame({"channel": ["=1+1", "ok"], "value": [-1.0, 2.0]}))
    assert frame.to_csv(index=False) == "channel,value\n'=1+1,-1.0\nok,2.0\n"


def test_detect_output_neutralises_a_metric_named_like_a_formula(tmp_path, capsys):
    rows_ = ["ds,metric,value"] + [f"2026-10-{d:02d},=cmd|x,{10 + d % 3}" for d in range(1, 29)]
    f = write(tmp_path / "series.csv", "\n".join(rows_) + "\n")
    assert main(["detect", "--input", str(f)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("2026-10-01,'=cmd|x,")


# --- files that are not what they say -----------------------------------------------------------


def test_a_binary_file_named_csv(tmp_path):
    nul = tmp_path / "orders.csv"
    nul.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert messages(plan("orders", nul)) == [f"{nul} line 3: not a text CSV (a NUL byte at offset 8: binary data)"]
    workbook = tmp_path / "export.csv"
    wb = openpyxl.Workbook()
    wb.save(workbook)
    assert messages(plan("orders", workbook)) == [
        f"{workbook}: binary data, not CSV text (it is a zip archive, as an .xlsx workbook is: if it is one, "
        "name it .xlsx)"]
    xls = tmp_path / "old.csv"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 32)
    assert "an old Excel .xls workbook" in messages(plan("orders", xls))[0]


def test_a_header_only_file_imports_nothing_and_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPSCADENCE_HOME", str(tmp_path / "home"))
    f = write(tmp_path / "orders.csv", "订单编号,买家ID,下单时间,实付金额,订单状态\n")
    assert messages(plan("orders", f)) == [f"{f}: no data rows after the header (row 1): nothing to import"]
    assert main(["import", "orders", str(f)]) == 2
    err = capsys.readouterr().err
    assert err == f"opscadence: {f}: no data rows after the header (row 1): nothing to import; nothing was imported\n"
    empty = write(tmp_path / "empty.csv", "")
    assert messages(plan("orders", empty)) == [f"{empty}: the file is empty (no header row)"]


# --- Excel workbooks ---------------------------------------------------------------------------


def _workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, cells in sheets.items():
        ws = wb.create_sheet(name)
        for row in cells:
            ws.append(row)
    wb.save(path)
    return path


ORDER_ROWS = [["订单编号", "买家ID", "下单时间", "实付金额", "订单状态"],
              [202611030001, 7, datetime(2026, 11, 3, 14, 5), 1299, "交易成功"],
              ["A2", "u2", 46329.5, "=1+1", "已付款"]]


def test_an_xlsx_with_cells_of_every_kind(tmp_path):
    f = _workbook(tmp_path / "orders.xlsx", {"订单": ORDER_ROWS[:2]})
    p = plan("orders", f)
    assert p.ok, messages(p)
    assert p.frame[["order_id", "user_id", "amount"]].values.tolist() == [["202611030001", "7", 1299.0]]
    assert p.frame["order_at"].iloc[0] == pd.Timestamp("2026-11-03 14:05")


def test_a_formula_cell_is_read_as_its_text_and_never_evaluated(tmp_path):
    wb_rows = [ORDER_ROWS[0] + ["渠道"], ["A2", "u2", 46329.5, 5, "已付款", "=1+1"]]
    f = _workbook(tmp_path / "orders.xlsx", {"Sheet": wb_rows})
    p = plan("orders", f)
    assert p.ok, messages(p)
    assert p.frame["channel"].tolist() == ["=1+1"]  # not 2
    assert p.frame["order_at"].iloc[0] == pd.Timestamp("2026-11-03 12:00")  # serial 46329.5
    bad = _workbook(tmp_path / "bad.xlsx", {"Sheet": ORDER_ROWS})
    assert messages(plan("orders", bad)) == [
        f"{bad} sheet Sheet row 3, column 实付金额 (amount): '=1+1' is a formula, which is never evaluated: "
        "paste the values instead (Excel: Paste Special → Values) and export again"]


def test_an_id_excel_has_rounded_is_an_error(tmp_path):
    f = _workbook(tmp_path / "orders.xlsx", {"Sheet": [ORDER_ROWS[0], [2.0261103000012345e17, "u", "2026-11-03", 1, "已付款"]]})
    (msg,) = messages(plan("orders", f))
    assert msg.startswith(f"{f} sheet Sheet row 2, column 订单编号 (order_id): '2.02611030000123")
    assert msg.endswith("is a number Excel has rounded (it keeps 15 digits): the real id is lost; "
                        "export the column as text")


def test_an_xlsx_with_two_sheets(tmp_path):
    f = _workbook(tmp_path / "export.xlsx", {"Sheet1": ORDER_ROWS[:2], "Sheet2": [["说明"], ["导出于 2026-11-04"]]})
    assert messages(plan("orders", f)) == [
        f"{f}: 2 sheets (Sheet1, Sheet2); say which with --sheet NAME or --sheet 1..2"]
    by_name = plan("orders", f, sheet="Sheet1")
    by_index = plan("orders", f, sheet="1")
    assert by_name.ok and by_index.ok and len(by_name.frame) == len(by_index.frame) == 1
    assert by_index.files[0].notes == ["sheet 1: Sheet1 (of Sheet1, Sheet2)"]
    assert messages(plan("orders", f, sheet="3")) == [
        f"{f}: no sheet '3'; its sheets: Sheet1, Sheet2 (--sheet NAME, or 1..2)"]
    named = _workbook(tmp_path / "named.xlsx", {"说明": [["说明"], ["x"]], "订单明细": ORDER_ROWS[:2]})
    p = plan("orders", named)
    assert p.ok and p.files[0].label == f"{named} sheet 订单明细"
    assert p.files[0].notes == ["sheet 订单明细 picked by its name (of 说明, 订单明细; --sheet chooses another)"]


# --- personal data ------------------------------------------------------------------------------

PERSONAL = ("订单编号,买家昵称,收货人,手机号,收货地址,买家邮箱,下单时间,实付金额,订单状态\n"
            "A1,小明爱购物,张三,13812345678,北京市朝阳区某路1号,xiaoming@example.com,2026-11-03 10:00,10,已付款\n"
            "A2,小红,李四,13912345678,上海市某路2号,xh@example.com,2026-11-03 11:00,20,已付款\n")
PERSONAL_VALUES = ["小明爱购物", "张三", "13812345678", "北京市", "xiaoming@example.com", "小红", "李四", "13912345678",
                   "上海市", "xh@example.com"]


def test_personal_columns_are_dropped_or_hashed_and_named(tmp_path):
    p = plan("orders", write(tmp_path / "o.csv", PERSONAL))
    assert p.ok, messages(p)
    report = p.files[0]
    assert report.dropped == ["收货人", "手机号", "收货地址", "买家邮箱"]
    assert report.hashed == ["买家昵称 → user_id"]
    assert p.frame["user_id"].tolist() == [pseudonym("小明爱购物", KEY, length=16), pseudonym("小红", KEY, length=16)]
    assert len(p.frame["user_id"].iloc[0]) == 18  # "C-" + 16 base32 characters (80 bits)
    assert set(p.frame.columns) == {"ds", "order_id", "user_id", "order_at", "amount", "status"}


def test_a_plain_id_wins_over_a_nickname_which_is_then_dropped(tmp_path):
    p = plan("orders", write(tmp_path / "o.csv", "订单号,买家昵称,买家ID,下单时间,实付金额,订单状态\n"
                                                "A1,小明,u1,2026-11-03 10:00,1,已付款\n"))
    assert p.frame["user_id"].tolist() == ["u1"] and p.files[0].dropped == ["买家昵称"] and not p.files[0].hashed


def test_a_user_id_column_of_phone_numbers_is_hashed(tmp_path):
    p = plan("users", write(tmp_path / "u.csv", "会员ID,注册时间\n13812345678,2026-11-03\nu2,2026-11-03\n"))
    assert p.files[0].hashed == ["会员ID → user_id (its values include phone numbers or e-mails)"]
    assert p.frame["user_id"].tolist() == [pseudonym("13812345678", KEY, length=16), pseudonym("u2", KEY, length=16)]


def test_feedback_text_is_masked(tmp_path):
    f = write(tmp_path / "f.csv", "评价ID,来源,评价时间,评分,评价内容\n"
                                  "F1,商品评价,2026-11-03 10:00,1,快递太慢 电话13812345678 邮箱a@b.com\n")
    p = plan("feedback", f)
    assert p.ok, messages(p)
    assert p.frame[["source", "rating", "text"]].values.tolist() == [["app_review", 1, "快递太慢 电话[phone] 邮箱[email]"]]


def test_no_personal_value_in_the_commands_output(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPSCADENCE_HOME", str(tmp_path / "home"))
    f = write(tmp_path / "o.csv", PERSONAL)
    assert main(["import", "orders", str(f), "--dry-run"]) == 0
    assert main(["import", "orders", str(f)]) == 0
    bad = write(tmp_path / "bad.csv", PERSONAL.replace(",10,", ",ten,"))
    assert main(["import", "orders", str(bad), "--dry-run"]) == 2
    assert main(["import", "orders", str(bad)]) == 2
    out = capsys.readouterr()
    assert "personal data dropped (not read): 收货人, 手机号, 收货地址, 买家邮箱" in out.out
    assert "bad.csv row 2, column 实付金额 (amount): 'ten' is not an amount" in out.err
    for value in PERSONAL_VALUES:
        assert value not in out.out + out.err
    engine = warehouse.create_engine(f"sqlite:///{tmp_path / 'home' / 'warehouse.sqlite'}")
    stored = repr(rows(engine, "orders"))
    engine.dispose()
    for value in PERSONAL_VALUES:
        assert value not in stored


# --- writing --------------------------------------------------------------------------------------


def test_one_transaction_replacing_by_key_and_a_reimport_adds_nothing(engine, tmp_path):
    from opscadence.imports import WriteResult

    f = write(tmp_path / "o.csv", ORDERS_ZH)
    assert write_import(engine, plan("orders", f)) == WriteResult(new=3, changed=0, unchanged=0)
    first = rows(engine, "orders")
    assert len(first) == 3
    assert write_import(engine, plan("orders", f)) == WriteResult(new=0, changed=0, unchanged=3)
    assert rows(engine, "orders") == first
    # T1003 corrected and moved to the 5th: its row on the 4th is gone, not doubled; T1004 is new
    moved = write(tmp_path / "o2.csv", ORDERS_ZH.splitlines()[0] + "\nT1003,U1,2026-11-05 09:00,90,交易成功,淘宝\n"
                  "T1004,U3,2026-11-05 10:00,5,交易成功,淘宝\nT1001,U1,2026-11-03 14:05:00,1299,已付款,淘宝\n")
    assert write_import(engine, plan("orders", moved)) == WriteResult(new=1, changed=1, unchanged=1)
    now = {r["order_id"]: r for r in rows(engine, "orders")}
    assert len(now) == 4 and now["T1003"]["ds"] == date(2026, 11, 5) and float(now["T1003"]["amount"]) == 90.0


def test_a_key_stored_twice_is_replaced_by_the_imported_row(engine, tmp_path):
    # an earlier load left two rows for T1001 (one as the file has it): both go, the file's row stays once
    with engine.begin() as conn:
        for amount in (1299, 1):
            conn.execute(warehouse.raw_orders.insert().values(
                ds=date(2026, 11, 3), order_id="T1001", user_id="U1", order_at=datetime(2026, 11, 3, 14, 5),
                amount=amount, status="paid", channel="淘宝"))
    result = write_import(engine, plan("orders", write(tmp_path / "o.csv", ORDERS_ZH)))
    assert (result.changed, result.new) == (1, 2)
    assert [float(r["amount"]) for r in rows(engine, "orders") if r["order_id"] == "T1001"] == [1299.0]


def test_a_set_with_one_bad_file_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPSCADENCE_HOME", str(tmp_path / "home"))
    good = write(tmp_path / "good.csv", ORDERS_ZH)
    bad = write(tmp_path / "bad.csv", ORDERS_ZH.replace("T1001", "T2001").replace("交易成功", "??"))
    assert main(["import", "orders", str(good), str(bad)]) == 2
    assert "bad.csv row 2, column 订单状态 (status): '??' is not a known status" in capsys.readouterr().err
    engine = warehouse.create_engine(f"sqlite:///{tmp_path / 'home' / 'warehouse.sqlite'}")
    warehouse.init_schema(engine)
    assert rows(engine, "orders") == []
    engine.dispose()


def test_imported_days_are_marked_changed_for_the_next_run(engine, tmp_path):
    f = write(tmp_path / "o.csv", ORDERS_ZH)
    write_import(engine, plan("orders", f))
    day = date(2026, 11, 3)
    with engine.begin() as conn:
        assert stale_or_missing(conn, "daily", [day], "defs") == {day: "missing"}
        record_inputs(conn, "daily", day, input_checksums(conn, day, date(2026, 11, 4))[day], "defs")
    write_import(engine, plan("orders", f))  # the same file again: the day stays current
    with engine.connect() as conn:
        assert stale_or_missing(conn, "daily", [day], "defs") == {day: "current"}
    write_import(engine, plan("orders", write(tmp_path / "fix.csv", ORDERS_ZH.replace("1299元", "1199元"))))
    with engine.connect() as conn:
        assert stale_or_missing(conn, "daily", [day], "defs") == {day: "changed"}


def test_ad_spend_is_keyed_by_day_channel_and_campaign(engine, tmp_path):
    text = ("日期,渠道,推广计划,展现量,点击量,花费\n"
            "2026-11-03,巨量引擎,双11预热,\"12,000\",300,\"￥1,500.50\"\n"
            "2026/11/3,巨量引擎,日常,5000,100,200\n")
    f = write(tmp_path / "spend.csv", text, "gbk")
    p = plan("ad_spend", f)
    assert p.ok, messages(p)
    assert write_import(engine, p).new == 2
    again = write_import(engine, plan("ad_spend", write(tmp_path / "s2.csv", text.replace(",200\n", ",250\n"), "gbk")))
    assert (again.new, again.changed, again.unchanged) == (0, 1, 1)
    got = [(r["ds"], r["campaign"], r["impressions"], r["clicks"], float(r["cost"])) for r in rows(engine, "ad_spend")]
    assert sorted(got) == [(date(2026, 11, 3), "双11预热", 12000, 300, 1500.5), (date(2026, 11, 3), "日常", 5000, 100, 250.0)]


def test_events_and_users_import(engine, tmp_path):
    events = write(tmp_path / "e.csv", "事件ID,事件时间,访客ID,会话ID,事件名称,来源\n"
                                        "e1,2026-11-03 10:00:00,v1,s1,page_view,baidu\n")
    users = write(tmp_path / "u.csv", "用户ID,注册时间,地区\nu1,2026年11月3日,浙江\n")
    write_import(engine, plan("events", events))
    write_import(engine, plan("users", users))
    (e,) = rows(engine, "events")
    assert (e["event_id"], e["visitor_id"], e["utm_source"], e["ds"]) == ("e1", "v1", "baidu", date(2026, 11, 3))
    (u,) = rows(engine, "users")
    assert (u["user_id"], u["region"], u["signup_at"]) == ("u1", "浙江", datetime(2026, 11, 3))


def test_an_xlsx_imports_through_the_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPSCADENCE_HOME", str(tmp_path / "home"))
    f = _workbook(tmp_path / "orders.xlsx", {"说明": [["导出说明"]], "Sheet2": ORDER_ROWS[:2]})
    assert main(["import", "orders", str(f)]) == 2  # two sheets, neither named like orders
    assert "2 sheets (说明, Sheet2); say which with --sheet NAME or --sheet 1..2" in capsys.readouterr().err
    assert main(["import", "orders", str(f), "--sheet", "Sheet2"]) == 0
    out = capsys.readouterr().out
    assert f"{f} sheet Sheet2: 1 rows (sheet Sheet2 (of 说明, Sheet2))" in out
    engine = warehouse.create_engine(f"sqlite:///{tmp_path / 'home' / 'warehouse.sqlite'}")
    (row,) = rows(engine, "orders")
    engine.dispose()
    assert (row["order_id"], float(row["amount"]), row["status"], row["ds"]) == ("202611030001", 1299.0, "paid",
                                                                                 date(2026, 11, 3))


def test_the_fast_and_the_record_by_record_csv_readers_agree(tmp_path, monkeypatch):
    from opscadence.imports import reading

    text = ("\n订单号,买家ID,下单时间,实付金额,订单状态,\n"  # a blank first line, a trailing separator
            "A1,u1,2026-11-03 10:00,1,已付款,\n"
            "  ,  ,  ,  ,  ,\n"  # spaces only: a blank row
            "A2,\"u\n2\",2026-11-03 11:00,2,已付款,\n"  # a cell with a line break: still one row
            "A3,u3,2026-11-03 12:00,3,已付款,\n")
    f = write(tmp_path / "o.csv", text)
    fast = reading._read_csv(f)
    with monkeypatch.context() as m:
        m.setattr(reading, "_read_csv_fast", lambda *a: None)
        slow = reading._read_csv(f)
    assert fast.header[:5] == slow.header[:5] == ["订单号", "买家ID", "下单时间", "实付金额", "订单状态"]
    assert fast.header_row == slow.header_row == 2
    assert fast.row_numbers == slow.row_numbers == [3, 5, 6]
    assert fast.table[1].tolist() == slow.table[1].tolist() == ["u1", "u\n2", "u3"]
    # a record with more fields than the header: the csv module's path names its row
    bad = write(tmp_path / "bad.csv", "订单号,买家ID\nA1,u1\nA2,u2,x,y\n")
    assert messages(plan("orders", bad)) == [
        f"{bad} row 3: 4 fields, the header has 2 (is the separator a comma? a value with a comma needs quotes)"]


def test_a_mapping_file_can_hash_and_drop_headers(tmp_path):
    mapping = write(tmp_path / "m.yaml", "hash:\n  user_id: [淘宝账号]\ndrop: [买家备注]\n")
    f = write(tmp_path / "o.csv", "订单号,淘宝账号,买家备注,下单时间,实付金额,订单状态\nA1,tb_小明,请尽快发货,2026-11-03 10:00,1,已付款\n")
    assert not plan("orders", f).ok  # without the mapping no column gives user_id
    p = plan("orders", f, aliases=load_aliases(mapping))
    assert p.ok, messages(p)
    assert p.files[0].hashed == ["淘宝账号 → user_id"] and p.files[0].dropped == ["买家备注"]
    assert p.frame["user_id"].tolist() == [pseudonym("tb_小明", KEY, length=16)]


def test_a_dry_run_writes_nothing_not_even_the_key(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    monkeypatch.setenv("OPSCADENCE_HOME", str(home))
    f = write(tmp_path / "o.csv", PERSONAL)
    assert main(["import", "orders", str(f), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dry run: nothing written. raw_orders would get 2 rows from 1 file(s)\n")
    assert "rows per day (1 day(s)): 2026-11-03 2" in out
    assert not home.exists()  # no warehouse, no pseudonym key file
