from pathlib import Path

import pytest

from opscadence.core.config import DEFAULT_ALERT_CHANNEL, DEFAULT_BRIEF_CHANNEL, ConfigError, load_config


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # no opscadence.yaml in the working directory of this call; the user's data directory is XDG's
    cfg = load_config(environ={"XDG_DATA_HOME": str(tmp_path / "data")})
    assert cfg.timezone == "Asia/Shanghai" and cfg.locale == "zh-CN" and cfg.vertical == "ecommerce"
    assert cfg.home == tmp_path / "data" / "opscadence"
    assert cfg.resolved_warehouse_url == f"sqlite:///{tmp_path.resolve() / 'data' / 'opscadence' / 'warehouse.sqlite'}"
    assert cfg.slack.channels.brief_channels() == [DEFAULT_BRIEF_CHANNEL]
    assert cfg.slack.channels.alert_channel() == DEFAULT_ALERT_CHANNEL
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


def test_the_default_home_is_the_same_from_any_working_directory(tmp_path, monkeypatch):
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
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
