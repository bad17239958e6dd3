from pathlib import Path

import pytest

from opscadence.core.config import DEFAULT_ALERT_CHANNEL, DEFAULT_BRIEF_CHANNEL, ConfigError, load_config


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # no opscadence.yaml in the working directory of this call; the user's data directory is XDG's
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    cfg = load_config(environ={})
    assert cfg.timezone == "Asia/Shanghai" and cfg.locale == "zh-CN" and cfg.vertical == "ecommerce"
    assert cfg.home == tmp_path / "data" / "opscadence"
    assert cfg.resolved_warehouse_url == f"sqlite:///{tmp_path.resolve() / 'data' / 'opscadence' / 'warehouse.sqlite'}"
    assert cfg.slack.channels.brief_channels() == [DEFAULT_BRIEF_CHANNEL]
    assert cfg.slack.channels.alert_channel() == DEFAULT_ALERT_CHANNEL
    # the e-commerce pack's default rules; share_rate's is the social pack's (an e-commerce shop has no share rate)
    assert {r.metric for r in cfg.thresholds} == {"dau", "payment_success_rate", "ad_ctr"}


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


# --- Rules that could never fire (or always would) are refused, naming the rule -----------------


def _rules_file(tmp_path, *rules: str, extra: str = "") -> str:
    path = tmp_path / "rules.yaml"
    path.write_text("thresholds:\n" + "".join(f"  - {r}\n" for r in rules) + extra, encoding="utf-8")
    return str(path)


def _load_error(path: str, environ: dict | None = None) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(path, environ=environ or {})
    return str(err.value)


def test_unknown_metric_is_refused_naming_the_rule(tmp_path):
    # Before the fix this loaded, and the rule could never match a mart row.
    path = _rules_file(tmp_path, "{metric: dau, condition: below, threshold: 100}",
                       "{metric: gmv, condition: below, threshold: 1}",
                       "{metric: daux, condition: below, threshold: 100}")
    message = _load_error(path)
    assert "thresholds[2].metric (daux below 100): unknown metric 'daux'; known: dau, mau, " in message
    assert "thresholds[0]" not in message and "thresholds[1]" not in message  # the sound rules are not named


def test_unknown_dimension_is_refused(tmp_path):
    message = _load_error(_rules_file(tmp_path, "{metric: dau, condition: below, threshold: 100, dimension: colour}"))
    assert ("thresholds[0].dimension (dau below 100 by colour): unknown dimension 'colour'; "
            "known: all, platform, channel, campaign, region, payment_method") in message


def test_a_metric_the_mart_does_not_hold_by_the_dimension_is_refused(tmp_path):
    # Ad CTR = ad_clicks / ad_impressions, both counted from raw_ad_spend, which the ads family
    # splits by channel only: there is no ad_ctr row by campaign.
    message = _load_error(_rules_file(
        tmp_path, "{metric: ad_ctr, condition: below, threshold: 0.01, dimension: campaign, name: ctr-campaign}"))
    assert ("thresholds[0].dimension (ad_ctr below 0.01 by campaign, 'ctr-campaign'): "
            "ad_ctr is not computed by campaign; its dimensions: all, channel") in message
    # DAU is counted from events, which are split by campaign: that rule loads.
    cfg = load_config(_rules_file(tmp_path, "{metric: dau, condition: below, threshold: 10, dimension: campaign}"),
                      environ={})
    assert [(r.metric, r.dimension) for r in cfg.thresholds] == [("dau", "campaign")]


def test_a_drop_written_as_a_percent_is_refused(tmp_path):
    # drop 15 would need a fall of 1500%: it could never fire.
    message = _load_error(_rules_file(tmp_path, "{metric: dau, condition: drop_vs_last_week, threshold: 15}"))
    assert "thresholds[0].threshold (dau drop_vs_last_week 15): 15 is not a relative change in (0, 1]" in message
    for bad in ("0", "-0.2", "1.5"):
        message = _load_error(_rules_file(tmp_path, f"{{metric: gmv, condition: rise_vs_yesterday, threshold: {bad}}}"))
        assert f"thresholds[0].threshold (gmv rise_vs_yesterday {bad}): " in message
    cfg = load_config(_rules_file(tmp_path, "{metric: gmv, condition: rise_vs_yesterday, threshold: 1}"), environ={})
    assert cfg.thresholds[0].threshold == 1  # +100%: the top of the range is allowed


def test_a_rate_threshold_written_as_a_percent_is_refused(tmp_path):
    # below 95 for a rate in [0, 1] always fires.
    message = _load_error(_rules_file(tmp_path, "{metric: payment_success_rate, condition: below, threshold: 95}"))
    assert ("thresholds[0].threshold (payment_success_rate below 95): 95 is not a rate in [0, 1] "
            "(0.95 means 95%)") in message
    # Counts and amounts are not rates: gmv below 95 (yuan) is sound; a negative level is not.
    assert load_config(_rules_file(tmp_path, "{metric: gmv, condition: below, threshold: 95}"),
                       environ={}).thresholds[0].threshold == 95
    message = _load_error(_rules_file(tmp_path, "{metric: orders, condition: above, threshold: -1}"))
    assert "thresholds[0].threshold (orders above -1): -1 is below 0; a count is at least 0" in message


def test_the_vertical_decides_which_metrics_a_rule_may_name(tmp_path, monkeypatch):
    # share_rate is in the social pack only: the e-commerce mart never holds it.
    path = _rules_file(tmp_path, "{metric: share_rate, condition: below, threshold: 0.05}")
    assert "share_rate is not computed for the ecommerce vertical" in _load_error(path)
    assert load_config(path, environ={"OPSCADENCE_VERTICAL": "social"}).thresholds[0].metric == "share_rate"
    # The built-in rules keep the vertical's metrics: payment success is e-commerce only.
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")  # no opscadence.yaml: the built-in rules
    social = load_config(environ={"OPSCADENCE_VERTICAL": "social"})
    assert [r.metric for r in social.thresholds] == ["dau", "ad_ctr", "share_rate"]
    assert "payment_success_rate" not in social.detection.metrics


def test_detection_calendar_and_playbook_keys_name_known_metrics(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "detection:\n  metrics:\n    daux: {severity: P1}\n"
        "calendar:\n  - {date: 2026-11-11, name: double-11, metrics: [gmv, orderz]}\n"
        "playbook:\n  - {metric: share_rate, zh-CN: 看看, en: look}\n",
        encoding="utf-8",
    )
    message = _load_error(str(path))
    assert "detection.metrics.daux: 'daux' is not a metric of the ecommerce vertical; known: dau, " in message
    assert "calendar[0].metrics (double-11): 'orderz' is not a metric of the ecommerce vertical" in message
    assert "playbook[0].metric: 'share_rate' is not a metric of the ecommerce vertical" in message


def test_the_default_rules_load_and_are_sound(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(environ={})
    assert [r.rule_id for r in cfg.thresholds] == [
        "dau:drop_vs_last_week:0.15:all", "payment_success_rate:below:0.95:all", "ad_ctr:below:0.01:channel"]
    assert all(r.problems("ecommerce") == [] for r in cfg.thresholds)


# --- Secrets are masked wherever the config is shown ---------------------------------------


def test_config_command_masks_the_warehouse_password(tmp_path, monkeypatch, capsys):
    import json

    from opscadence.cli import main

    url = "postgresql+psycopg://ops:s3cr3t-pw-123@db.internal:5432/shop"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPSCADENCE_WAREHOUSE_URL", url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-known-secret-1")
    # Before: the JSON dump printed the URL as given.
    assert "s3cr3t-pw-123" in load_config().model_dump_json()
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["warehouse_url"] == "postgresql+psycopg://ops:***@db.internal:5432/shop"
    assert "s3cr3t-pw-123" not in out and "xoxb-known-secret-1" not in out
    assert "s3cr3t-pw-123" not in repr(load_config())  # nor in the repr Prefect or a log may show


def test_the_default_home_is_the_same_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    env: dict[str, str] = {}
    homes = []
    for cwd in (tmp_path, tmp_path / "elsewhere"):
        cwd.mkdir(exist_ok=True)
        monkeypatch.chdir(cwd)
        cfg = load_config(environ=env)
        homes.append((cfg.home, cfg.resolved_warehouse_url, cfg.outbox_dir))
    assert homes[0] == homes[1]
    assert homes[0][2] == tmp_path / "data" / "opscadence" / "outbox"
    assert not (tmp_path / ".opscadence").exists() and not (tmp_path / "elsewhere" / ".opscadence").exists()


def test_a_relative_home_in_the_file_is_taken_from_the_files_folder(tmp_path, monkeypatch):
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "opscadence.yaml").write_text("home: shop-data\n", encoding="utf-8")
    (tmp_path / "run").mkdir()
    monkeypatch.chdir(tmp_path / "run")  # not the file's folder
    cfg = load_config(environ={"OPSCADENCE_CONFIG": str(Path("..") / "conf" / "opscadence.yaml")})
    assert cfg.home == folder.resolve() / "shop-data"
    assert cfg.resolved_warehouse_url == f"sqlite:///{folder.resolve() / 'shop-data' / 'warehouse.sqlite'}"
    # an absolute home is kept; ~ is the user's home directory
    (folder / "opscadence.yaml").write_text(f"home: {tmp_path / 'abs'}\n", encoding="utf-8")
    assert load_config(folder / "opscadence.yaml", environ={}).home == tmp_path / "abs"
    (folder / "opscadence.yaml").write_text("home: ~/shop\n", encoding="utf-8")
    assert load_config(folder / "opscadence.yaml", environ={}).home == Path.home() / "shop"


def test_a_relative_opscadence_home_is_made_absolute_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "opscadence.yaml").write_text("home: from-file\n", encoding="utf-8")
    cfg = load_config(environ={"OPSCADENCE_HOME": "from-env"})  # the environment wins over the file
    assert cfg.home == tmp_path / "from-env" and cfg.home.is_absolute()
