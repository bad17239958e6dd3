"""Files full of personal data, imported through the command, then a daily and a weekly run posting
to the local Slack server: no planted personal value reaches any table, log line, file in the home
or Slack payload, in any of its usual spellings.

Planted: names (Chinese and Latin), phone numbers (in phone columns, as a buyer id, and in feedback
text, written 3-4-4 and with +86), e-mail addresses (columns and feedback text), shipping
addresses, nicknames (the buyer column of orders, users and feedback) and a resident ID number in
feedback text. Names inside free text are not planted: no masking can recognise a name in prose
(README "Your data" says feedback text is masked for phones, e-mails, ID and card numbers only).
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from opscadence import warehouse
from opscadence.cli import main
from opscadence.warehouse import schema
from tests.conftest import WAREHOUSES
from tests.flows.conftest import TOKEN, empty_warehouse_env

WEEK = [date(2026, 11, 16) + timedelta(days=i) for i in range(7)]  # Monday .. Sunday, ISO week 47
DAY = WEEK[-1]

# Six customers: nickname, name, phone, e-mail, address.
PEOPLE = [
    ("快乐小明同学", "欧阳锋", "13812345678", "Zhang.Sanfeng@Example.com", "北京市朝阳区建国路88号院3单元"),
    ("tb_xiaohong_88", "慕容复", "13987654321", "murong.fu@mail-test.cn", "上海市浦东新区世纪大道1001弄"),
    ("旺旺大王2026", "Zhang Sanfeng", "13711223344", "wangwang.king@qq-test.com", "广州市天河区体育西路191号"),
    ("silent_buyer_7", "Li Xunhuan", "13655667788", "li.xunhuan@corp-test.org", "深圳市南山区科技园南区2栋"),
    ("月下独酌者", "黄药师", "13566778899", "huang.yaoshi@163-test.com", "杭州市西湖区龙井路18号"),
    ("nightowl_shop", "Ren Yingying", "13400112233", "ren.yy@test-mail.net", "成都市锦江区春熙路66号"),
]
RESIDENT_ID = "110101199003074578"
FEEDBACK_PHONE = "139 2468 1357"  # only in feedback text
FEEDBACK_EMAIL = "complain.here@feedback-test.com"


def _orders_by_nickname() -> str:
    """Monday to Thursday, the buyer as a nickname; name, phone, e-mail and address columns."""
    lines = ["订单编号,买家昵称,收货人,手机号,邮箱,收货地址,下单时间,实付金额,订单状态,渠道"]
    n = 0
    for day in WEEK[:4]:
        for i, (nick, name, phone, email, address) in enumerate(PEOPLE):
            if (i + day.day) % 3 == 0:
                continue
            n += 1
            lines.append(f"N{n:03d},{nick},{name},{phone},{email},{address},{day} {9 + i}:15,"
                         f"￥{100 + 37 * i + day.day}.00,交易成功,{'淘宝' if i % 2 else '抖音'}")
    return "\n".join(lines) + "\n"


def _orders_by_phone() -> str:
    """Friday to Sunday, the buyer id is a phone number (some shops key buyers by mobile)."""
    lines = ["订单编号,买家ID,收货人姓名,联系电话,收货地址,付款时间,实付金额,订单状态"]
    n = 0
    for day in WEEK[4:]:
        for i, (_nick, name, phone, _email, address) in enumerate(PEOPLE):
            n += 1
            status = "已退款" if (i, day.day) == (2, 21) else "已完成"
            lines.append(f"P{n:03d},{phone},{name},+86 {phone[:3]}-{phone[3:7]}-{phone[7:]},{address},"
                         f"{day} {10 + i}:40,{80 + 11 * i}元,{status}")
    return "\n".join(lines) + "\n"


def _users() -> str:
    lines = ["买家昵称,姓名,手机,电子邮箱,详细地址,注册时间,渠道,地区"]
    for i, (nick, name, phone, email, address) in enumerate(PEOPLE):
        lines.append(f"{nick},{name},{phone},{email},{address},{WEEK[0] - timedelta(days=30 + i)} 08:00,ads,华东")
    return "\n".join(lines) + "\n"


def _feedback() -> str:
    texts = [
        f"快递太慢了，请打我电话{PEOPLE[0][2]}",
        f"付款失败三次！邮箱 {FEEDBACK_EMAIL} 回复我",
        f"退款一直没到账，身份证{RESIDENT_ID}，电话 {FEEDBACK_PHONE}",
        f"包装破损，联系 +86 {PEOPLE[3][2][:3]} {PEOPLE[3][2][3:7]} {PEOPLE[3][2][7:]} 或 {PEOPLE[3][3]}",
        "客服态度很差",
        "质量不错，下次还来",
    ]
    lines = ["反馈ID,来源,反馈时间,评分,内容,买家昵称,手机号"]
    for i, text in enumerate(texts):
        nick, _name, phone = PEOPLE[i][:3]
        lines.append(f"F{i + 1},客服,{WEEK[2 + i % 5]} 1{i}:05,{1 + i % 5},\"{text}\",{nick},{phone}")
    return "\n".join(lines) + "\n"


def _planted() -> dict[str, list[str]]:
    """Each planted value and the spellings it could leak in."""
    out: dict[str, list[str]] = {}
    for nick, name, phone, email, address in PEOPLE:
        out[nick] = [nick]
        out[name] = [name] + ([name.replace(" ", ""), name.split()[1]] if " " in name else [])
        out[email] = [email, email.split("@")[0]]
        out[address] = [address, address[3:9], address[-6:]]
        out[phone] = [phone]
    out[RESIDENT_ID] = [RESIDENT_ID]
    out[FEEDBACK_PHONE] = [FEEDBACK_PHONE]
    out[FEEDBACK_EMAIL] = [FEEDBACK_EMAIL, FEEDBACK_EMAIL.split("@")[0]]
    return out


def _digit_pattern(digits: str) -> re.Pattern[str]:
    """The number with any single space, hyphen or dot between its digits (138 1234 5678, 138-1234-5678,
    +86 138…): a phone in any grouping."""
    return re.compile(r"(?<!\d)" + r"[ \-.]?".join(digits) + r"(?!\d)")


def _leaks(where: str, text: str) -> list[str]:
    found = []
    norm = unicodedata.normalize("NFKC", text).casefold()
    for value, spellings in _planted().items():
        digits = re.sub(r"\D", "", value)
        if len(digits) >= 11 and not re.search(r"[A-Za-z]", value):
            if _digit_pattern(digits[-11:] if len(digits) <= 13 else digits).search(norm):
                found.append(f"{where}: {value}")
            continue
        if any(unicodedata.normalize("NFKC", s).casefold() in norm for s in spellings):
            found.append(f"{where}: {value}")
    return found


def _leaks_in_bytes(where: str, data: bytes) -> list[str]:
    found = _leaks(where, data.decode("utf-8", errors="replace"))
    for value in _planted():
        try:
            if value.encode("gbk") in data or value.encode("utf-16-le") in data:
                found.append(f"{where} (encoded): {value}")
        except UnicodeEncodeError:
            pass
    return found


@pytest.fixture(params=WAREHOUSES)
def leak_env(request, tmp_path, monkeypatch, slack_server, prefect_server):
    url = empty_warehouse_env(request.param, tmp_path, monkeypatch, locale="zh-CN")
    home = tmp_path / "home"
    monkeypatch.setenv("OPSCADENCE_SOURCES", json.dumps([{"kind": "warehouse", "tables": ["orders", "users",
                                                                                          "feedback"]}]))
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_API_URL", slack_server.url)
    engine = warehouse.create_engine(url)
    yield tmp_path, home, engine
    engine.dispose()


def _prefect_logs() -> list[str]:
    from prefect.client.orchestration import get_client

    lines: list[str] = []
    with get_client(sync_client=True) as client:
        offset = 0
        while True:
            page = client.read_logs(limit=200, offset=offset)
            lines += [f"{log.name} {log.message}" for log in page]
            if len(page) < 200:
                return lines
            offset += 200


@pytest.fixture
def log_lines(monkeypatch):
    """Every log record any logger emits: recorded in ``Logger.handle`` itself, because Prefect
    configures its own handlers (and non-propagating loggers) when a flow starts."""
    lines: list[str] = []
    handle = logging.Logger.handle

    def recording(self: logging.Logger, record: logging.LogRecord) -> None:
        lines.append(f"{record.name} {record.getMessage()} {record.exc_text or ''}")
        handle(self, record)

    monkeypatch.setattr(logging.Logger, "handle", recording)
    return lines


def test_no_personal_value_reaches_a_table_log_file_or_slack(leak_env, slack_server, capsys, log_lines):
    folder, home, engine = leak_env
    inputs = folder / "exports-from-the-shop"
    inputs.mkdir()
    files = {
        "orders-a.csv": (_orders_by_nickname(), "gbk"),
        "orders-b.csv": (_orders_by_phone(), "utf-8-sig"),
        "users.csv": (_users(), "utf-8"),
        "feedback.csv": (_feedback(), "gb18030"),
    }
    for name, (text, encoding) in files.items():
        (inputs / name).write_bytes(text.encode(encoding))
    # the test's own files hold what the scan looks for (else the scan would find nothing anywhere)
    assert all(_leaks(name, text) for name, (text, _) in files.items())

    for table, name in [("orders", "orders-a.csv"), ("orders", "orders-b.csv"), ("users", "users.csv"),
                        ("feedback", "feedback.csv")]:
        assert main(["import", table, str(inputs / name)]) == 0, capsys.readouterr().err
    assert main(["backfill", "daily", "--start", WEEK[0].isoformat(), "--end", WEEK[-2].isoformat(),
                 "--no-notify"]) == 0
    assert main(["run", "daily", "--date", DAY.isoformat()]) in (0, 1)
    assert main(["run", "weekly", "--date", DAY.isoformat()]) in (0, 1)
    out = capsys.readouterr()

    # the runs did their work: Slack got messages, the weekly exports and RFM tags exist
    assert slack_server.calls("chat.postMessage")
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(schema.raw_orders)) > 30
        assert conn.scalar(sa.select(sa.func.count()).select_from(schema.mart_customer_rfm)) > 0
        assert conn.scalar(sa.select(sa.func.count()).select_from(schema.raw_feedback)) == 6
    written = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name.startswith("rfm-callbacks-") for p in written)
    assert any(p.name.startswith("unhappy-customers-") for p in written)

    leaks: list[str] = []
    # every table of the warehouse, every row
    inspector = sa.inspect(engine)
    with engine.connect() as conn:
        for table in inspector.get_table_names():
            rows = conn.execute(sa.text(f'select * from "{table}"')).all()
            leaks += _leaks(f"table {table}", "\n".join(" | ".join(map(str, r)) for r in rows))
    # every log line: captured records, the command's output, Prefect's stored flow/task logs
    leaks += _leaks("log records", "\n".join(log_lines))
    leaks += _leaks("stdout", out.out) + _leaks("stderr", out.err)
    prefect_logs = _prefect_logs()
    assert len(prefect_logs) > 10 and len(log_lines) > 10  # the scans below read something
    leaks += _leaks("prefect logs", "\n".join(prefect_logs))
    # every file under the home (the SQLite warehouse itself, byte by byte, included)
    for path in written:
        leaks += _leaks_in_bytes(f"file {path.relative_to(home)}", path.read_bytes())
    # every Slack request, and every file uploaded to it
    for request in slack_server.requests:
        leaks += _leaks(f"slack {request.method}", json.dumps(request.body, ensure_ascii=False, default=str))
    for file_id, f in slack_server.files.items():
        leaks += _leaks_in_bytes(f"slack file {f.get('filename')}", f.get("data") or b"")
        leaks += _leaks(f"slack file {file_id}", json.dumps({k: v for k, v in f.items() if k != "data"},
                                                              ensure_ascii=False, default=str))
    assert leaks == []
