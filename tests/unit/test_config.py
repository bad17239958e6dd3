import pytest

from opscadence.core.config import DEFAULT_ALERT_CHANNEL, DEFAULT_BRIEF_CHANNEL, ConfigError, load_config


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(environ={})  # no opscadence.yaml in the working directory of this call
    assert cfg.timezone == "Asia/Shanghai" and cfg.locale == "zh-CN" and cfg.vertical == "ecommerce"
    assert cfg.resolved_warehouse_url == f"sqlite:///{tmp_path.resolve() / '.opscadence' / 'warehouse.sqlite'}"
    assert cfg.slack.channels.brief_channels() == [DEFAULT_BRIEF_CHANNEL]
    assert cfg.slack.channels.alert_channel() == DEFAULT_ALERT_CHANNEL
    # share_rate: the social pack's rule (an e-commerce shop has no share rate)
    assert {r.metric for r in cfg.thresholds} == {"dau", "payment_success_rate", "ad_ctr", "share_rate"}


def test_yaml_then_environment_overrides(tmp_path):
    path = tmp_path / "opscadence.yaml"
    path.write_text(
        "timezone: Europe/Berlin\nlocale: en\n"
        "slack:\n  channels:\n    product: '#product'\n    tech: '#tech'\n    marketing: '#product'\n"
        "thresholds:\n  - {metric: gmv, condition: drop_vs_yesterday, threshold: 0.3, severity: P1}\n",
        encoding="utf-8",
    )
    env = {"OPSCADENCE_CONFIG": str(path), "OPSCADENCE_TIMEZONE": "America/New_York",
           "OPSCADENCE_WAREHOUSE_URL": "postgresql+psycopg://u@h/db", "OPSCADENCE_SLACK__CHANNELS__ALERTS": "#pager"}
    cfg = load_config(environ=env)
    assert cfg.timezone == "America/New_York"  # environment wins over the file
    assert cfg.locale == "en"  # from the file
    assert cfg.resolved_warehouse_url == "postgresql+psycopg://u@h/db"
    assert cfg.slack.channels.brief_channels() == ["#product", "#tech"]  # distinct, in audience order
    assert cfg.slack.channels.alert_channel() == "#pager"
    assert [(r.metric, r.severity) for r in cfg.thresholds] == [("gmv", "P1")]


def test_errors_name_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("thresholds:\n  - {metric: dau, condition: sideways, threshold: 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"thresholds\.0\.condition"):
        load_config(path, environ={})
    with pytest.raises(ConfigError, match=r"timezone: Value error, unknown IANA timezone 'Mars/Base'"):
        load_config(environ={"OPSCADENCE_TIMEZONE": "Mars/Base"})
    with pytest.raises(ConfigError, match=r"localle: Extra inputs are not permitted"):
        path.write_text("localle: en\n", encoding="utf-8")
        load_config(path, environ={})
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(environ={"OPSCADENCE_CONFIG": str(tmp_path / "missing.yaml")})


def test_secrets_are_refused_in_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("slack:\n  bot_token: xoxb-secret\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert "slack.bot_token" in str(err.value) and "xoxb-secret" not in str(err.value)
