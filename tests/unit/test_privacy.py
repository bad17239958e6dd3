"""escape_mrkdwn, mask_pii, redact_sample, truncate: hand-written inputs and expectations."""

from __future__ import annotations

import pytest

from opscadence.core.privacy import escape_mrkdwn, mask_pii, mask_secrets, redact_sample, secret_values, truncate


# --- escape_mrkdwn ----------------------------------------------------------


def test_escape_control_characters_defuses_mentions_and_links():
    assert escape_mrkdwn("<!channel>") == "&lt;!channel&gt;"
    assert escape_mrkdwn("<@U123> <#C1>") == "&lt;@U123&gt; &lt;#C1&gt;"
    assert escape_mrkdwn("<https://evil.example|click>") == "&lt;https://evil.example|click&gt;"


def test_escape_ampersand_first_so_entities_are_not_double_escaped():
    assert escape_mrkdwn("A&B <x>") == "A&amp;B &lt;x&gt;"
    assert escape_mrkdwn("&lt;") == "&amp;lt;"  # literal text stays literal


def test_escape_formatting_characters_become_full_width():
    assert escape_mrkdwn("*boss*") == "＊boss＊"
    assert escape_mrkdwn("~gone~") == "～gone～"
    assert escape_mrkdwn("`code`") == "｀code｀"
    assert escape_mrkdwn("_it_") == "＿it＿"


def test_escape_keeps_intra_word_underscore():
    assert escape_mrkdwn("order_id=42 fact_orders") == "order_id=42 fact_orders"
    assert escape_mrkdwn("a _b c_ d") == "a ＿b c＿ d"


def test_escape_broadcast_words():
    assert escape_mrkdwn("hi @channel and @here, @Everyone") == "hi ＠channel and ＠here, ＠Everyone"
    assert escape_mrkdwn("mail@channels.io") == "mail@channels.io"  # not a whole word


def test_escape_plain_text_unchanged():
    assert escape_mrkdwn("抖音 618 大促 campaign-A") == "抖音 618 大促 campaign-A"


# --- mask_pii ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to zhang.san+vip@example.com.cn now", "write to [email] now"),
        ("邮箱wang@qq.com谢谢", "邮箱[email]谢谢"),
        ("手机13800138000", "手机[phone]"),
        ("call +86 138 0013 8000 today", "call [phone] today"),
        ("tel 0086-13912345678", "tel [phone]"),
        ("office 010-6234-5678", "office [phone]"),
        ("(021) 6234 5678", "[phone]"),
        ("+1 415-555-2671", "[phone]"),
        ("身份证 11010519491231002X 已登记", "身份证 [id] 已登记"),
        ("id 440305199912310018", "id [id]"),
        ("card 4111111111111111 expired", "card [number] expired"),
        ("card 4111 1111 1111 1111", "card [number]"),
        ("ref 1234567890123", "ref [number]"),
    ],
)
def test_mask_pii_redacts(text, expected):
    assert mask_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-24 订单延迟",
        "server 192.168.10.254 down",
        "GMV ¥12,345.60",
        "sizes 10 20 30 40",
        "order 123456",
        "12 items",
    ],
)
def test_mask_pii_leaves_non_personal_numbers(text):
    assert mask_pii(text) == text


def test_mask_pii_short_mobile_like_digit_runs_not_inside_longer_numbers():
    # 20 digits: not a card (13-19), not a mobile (would need a boundary) → unchanged
    assert mask_pii("x 13800138000138001380 y") == "x 13800138000138001380 y"


def test_mask_pii_long_numbers_can_be_kept():
    assert mask_pii("order 20261124000123", long_numbers=False) == "order 20261124000123"
    assert mask_pii("order 20261124000123") == "order [number]"


# --- redact_sample ----------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("order_id=20261124000123", "order_id=20261124000123"),
        ("order_id=O-77", "order_id=O-77"),
        ("user_id=42", "user_id=[redacted]"),
        ("customerId: 9", "customerId=[redacted]"),
        ("visitor_id=abc", "visitor_id=[redacted]"),
        ("email=a@b.com", "email=[redacted]"),
        ("shipment_id=7", "shipment_id=7"),  # "ip" inside a word is not an IP key
        ("note=a@b.com", "note=[email]"),
    ],
)
def test_redact_sample(sample, expected):
    assert redact_sample(sample) == expected


# --- truncate ---------------------------------------------------------------


def test_truncate_keeps_short_text():
    assert truncate("abc", 3) == "abc"
    assert truncate("", 5) == ""


def test_truncate_cuts_and_adds_ellipsis_within_limit():
    assert truncate("abcdef", 4) == "abc…"
    assert len(truncate("x" * 500, 200)) == 200


def test_truncate_cuts_on_character_boundary_for_cjk_and_emoji():
    assert truncate("支付成功率下降明显", 5) == "支付成功率"[:4] + "…"
    assert truncate("🔴🟠🟡🟢", 3) == "🔴🟠…"


def test_truncate_does_not_leave_half_an_entity():
    assert truncate("ab &amp; cd", 6) == "ab…"
    assert truncate("x&lt;y", 4) == "x…"


def test_truncate_strips_trailing_space_before_ellipsis():
    assert truncate("hello world", 7) == "hello…"


def test_truncate_rejects_non_positive_limit():
    with pytest.raises(ValueError):
        truncate("abc", 0)


# --- Secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("postgresql+psycopg://ops:s3cr3t@db:5432/shop", "postgresql+psycopg://ops:***@db:5432/shop"),
        ("could not connect: host=db password=s3cr3t user=ops", "could not connect: host=db password=*** user=ops"),
        ("https://api.example.com/x?api_key=abc123&page=2", "https://api.example.com/x?api_key=***&page=2"),
        ('{"bot_token": "abc-def"}', '{"bot_token": "***"}'),
        ("Slack said invalid_auth for xoxb-1-2-abcDEF", "Slack said invalid_auth for ***"),
        # Left alone: no credential in them.
        ("sqlite:////home/amy/.opscadence/warehouse.sqlite", "sqlite:////home/amy/.opscadence/warehouse.sqlite"),
        ("postgresql://ops@db/shop", "postgresql://ops@db/shop"),
        ('"token_block": "slack-bot"', '"token_block": "slack-bot"'),
    ],
)
def test_mask_secrets(text, expected):
    assert mask_secrets(text, []) == expected


def test_mask_secrets_masks_given_values_and_the_environment_secrets(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "plain-looking-secret")
    monkeypatch.setenv("PGPASSWORD", "hunter22")
    monkeypatch.setenv("SHORT_TOKEN", "abc")  # too short to mask without masking ordinary words
    assert secret_values({"SLACK_BOT_TOKEN": "plain-looking-secret", "HOME": "/root"}) == ["plain-looking-secret"]
    assert mask_secrets("sent with plain-looking-secret as hunter22; abc") == "sent with *** as ***; abc"
    assert mask_secrets("a my-own-key b", ["my-own-key"]) == "a *** b"


def test_warehouse_errors_never_show_the_password(tmp_path):
    import sqlalchemy as sa

    from opscadence import warehouse
    from opscadence.core.errors import UserError

    # A dialect SQLAlchemy does not have: one line, the URL masked.
    with pytest.raises(UserError) as err:
        warehouse.create_engine("postgresqlx://ops:s3cr3t-pw-123@db/shop")
    assert str(err.value) == ("warehouse_url postgresqlx://ops:***@db/shop cannot be used: "
                              "Can't load plugin: sqlalchemy.dialects:postgresqlx")
    # Not a URL at all: where the password is cannot be told, so nothing of it is shown.
    with pytest.raises(UserError) as err:
        warehouse.create_engine("ops s3cr3t-pw-123 db")
    assert "s3cr3t" not in str(err.value) and "not a database URL" in str(err.value)
    # A driver error quoting the password (here SQLite's, about a statement holding it) is masked,
    # and stays the OperationalError callers catch. (A SQLite URL keeps no password, so the hook
    # create_engine adds for a URL with one is added by hand.)
    from opscadence.warehouse.schema import _mask_password_in_errors

    engine = warehouse.create_engine(f"sqlite:///{tmp_path}/w.sqlite")
    _mask_password_in_errors(engine, "s3cr3t-pw-123")
    with pytest.raises(sa.exc.OperationalError) as err:
        with engine.connect() as conn:
            conn.execute(sa.text("select * from s3cr3t-pw-123"))
    assert "s3cr3t-pw-123" not in str(err.value) and "select * from ***" in str(err.value)
    engine.dispose()


# --- pseudonyms and private files -------------------------------------------------------


def test_pseudonym_is_the_keyed_hmac_in_six_base32_characters():
    import hashlib
    import hmac

    from opscadence.core.privacy import pseudonym

    key = b"0123456789abcdef0123456789abcdef"
    # independently: the first 30 bits of HMAC-SHA256, five bits per character of RFC 4648 base32
    bits = int.from_bytes(hmac.new(key, b"u01001045", hashlib.sha256).digest()[:4], "big") >> 2
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    expected = "C-" + "".join(alphabet[(bits >> (5 * (5 - i))) & 31] for i in range(6))
    assert pseudonym("u01001045", key) == expected
    assert pseudonym("u01001045", key) == pseudonym("u01001045", key)  # stable week after week
    assert pseudonym("u01001046", key) != expected and pseudonym("u01001045", b"another key, 16+ bytes") != expected
    assert pseudonym(1001, key) == pseudonym("1001", key)
    with pytest.raises(ValueError):
        pseudonym("u1", b"")


def test_pseudonym_key_from_the_environment(tmp_path):
    from opscadence.core.errors import UserError
    from opscadence.core.privacy import pseudonym_key

    assert pseudonym_key(tmp_path, {"OPSCADENCE_PSEUDONYM_KEY": "a-long-enough-key-1234"}) == b"a-long-enough-key-1234"
    assert not (tmp_path / "pseudonym.key").exists()  # no file when the environment has the key
    with pytest.raises(UserError, match="shorter than 16"):
        pseudonym_key(tmp_path, {"OPSCADENCE_PSEUDONYM_KEY": "short"})
    # its value is masked like any other secret's
    assert secret_values({"OPSCADENCE_PSEUDONYM_KEY": "a-long-enough-key-1234"}) == ["a-long-enough-key-1234"]


def test_the_pseudonym_key_variable_is_not_read_as_a_config_key(tmp_path):
    from opscadence.core.config import load_config

    config = tmp_path / "opscadence.yaml"
    config.write_text("locale: en\n", encoding="utf-8")
    cfg = load_config(config, {"OPSCADENCE_PSEUDONYM_KEY": "a-long-enough-key-1234"})
    assert cfg.locale == "en"  # no "extra inputs are not permitted: pseudonym_key"


def test_pseudonym_key_file_is_made_once_owner_only(tmp_path):
    import os
    import stat

    from opscadence.core.errors import UserError
    from opscadence.core.privacy import pseudonym_key

    home = tmp_path / "home"
    first = pseudonym_key(home, {})
    path = home / "pseudonym.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) == 32
    assert pseudonym_key(home, {}) == first  # read back, not made again
    assert [p.name for p in home.iterdir()] == ["pseudonym.key"]  # no temporary left behind
    os.chmod(path, 0o644)
    with pytest.raises(UserError, match="can be read by others"):
        pseudonym_key(home, {})
    os.chmod(path, 0o600)
    path.write_text("not hex\n")
    with pytest.raises(UserError, match="does not hold a hex key"):
        pseudonym_key(home, {})


def test_private_files_are_owner_only_whatever_the_umask(tmp_path):
    import os
    import stat

    from opscadence.core.privacy import write_private_file

    old = os.umask(0)
    try:
        path = write_private_file(tmp_path / "exports" / "list.csv", b"id\nu1\n")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        write_private_file(path, b"id\nu2\n")  # replaced whole
        assert path.read_bytes() == b"id\nu2\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [p.name for p in path.parent.iterdir()] == ["list.csv"]
    finally:
        os.umask(old)
