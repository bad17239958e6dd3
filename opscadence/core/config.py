"""Typed configuration: one YAML file, environment overrides, safe defaults.

Lookup order (later wins): built-in defaults < YAML file < ``OPSCADENCE_<KEY>``
environment variables. Nested keys use a double underscore
(``OPSCADENCE_SLACK__CHANNELS__ALERTS``); list values may be given as YAML/JSON.
Secrets never live here (a file holding one is refused): the Slack bot token comes from
``SLACK_BOT_TOKEN``, else from the Prefect Secret block named by ``slack.token_block``
(see ``flows.common._slack_token``).
"""

from __future__ import annotations

import os
import re
from datetime import date as date_type
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from opscadence.metrics import dimensions
from opscadence.metrics.catalog import CATALOG, metrics_for
from opscadence.analytics.weekly.abtest import AbTestConfig
from opscadence.analytics.weekly.attribution import AttributionConfig
from opscadence.analytics.weekly.painpoints import PainPointConfig
from opscadence.analytics.weekly.rfm import RfmConfig

ENV_PREFIX = "OPSCADENCE_"
# Environment variables with the prefix that are not config keys.
_NOT_KEYS = {"CONFIG", "TEST_POSTGRES_URL", "FAULT_AT", "FAULT_ONCE_FILE", "PSEUDONYM_KEY"}

DEFAULT_BRIEF_CHANNEL = "#ops-brief"
DEFAULT_ALERT_CHANNEL = "#ops-alerts"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the file and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ThresholdRule(_Strict):
    """One threshold rule, evaluated on the daily KPI mart.

    ``below``/``above`` compare the value with ``threshold``; ``drop_vs_*``/``rise_vs_*``
    compare the relative change against the previous period, the same period last year, or
    (days) the same weekday last week; ``*_vs_yesterday`` is ``*_vs_previous_period`` on days.
    """

    metric: str
    condition: Literal[
        "below", "above",
        "drop_vs_previous_period", "rise_vs_previous_period",
        "drop_vs_same_period_last_year", "rise_vs_same_period_last_year",
        # the daily names, kept: *_vs_yesterday = *_vs_previous_period on days;
        # *_vs_last_week = against the same weekday one week earlier
        "drop_vs_last_week", "rise_vs_last_week", "drop_vs_yesterday", "rise_vs_yesterday",
    ]
    threshold: float
    dimension: str = "all"
    severity: Literal["P1", "P2", "P3"] = "P2"
    name: str | None = None

    @property
    def rule_id(self) -> str:
        return self.name or f"{self.metric}:{self.condition}:{self.threshold:g}:{self.dimension}"

    def describe(self) -> str:
        """"daux below 100", "ad_ctr below 0.01 by campaign", plus the name when it has one."""
        text = f"{self.metric} {self.condition} {self.threshold:g}"
        text += f" by {self.dimension}" if self.dimension != dimensions.ALL else ""
        return text + (f", {self.name!r}" if self.name else "")

    def problems(self, vertical: str) -> list[tuple[str, str]]:
        """(key, what is wrong) for a rule that could never fire, or always would, on the
        KPI mart of ``vertical``; empty for a sound rule.

        The metric must be one of the vertical's catalogue metrics (the mart holds no other),
        the dimension one of the registry's, and the mart must hold the metric by it (read off
        the measure definitions: :mod:`opscadence.analytics.daily.availability`). The threshold
        must be in range: a relative change (drop/rise) in (0, 1] (0.15 = 15%), a rate's level
        in [0, 1], any other level (count, amount, seconds) at least 0.
        """
        from opscadence.analytics.daily.availability import metric_dimensions

        known = [m.name for m in metrics_for(vertical)]
        if self.metric not in CATALOG:
            return [("metric", f"unknown metric {self.metric!r}; known: {', '.join(known)}")]
        if self.metric not in known:
            return [("metric", f"{self.metric} is not computed for the {vertical} vertical; "
                               f"its metrics: {', '.join(known)}")]
        found = []
        registry = (dimensions.ALL, *dimensions.names())
        if self.dimension not in registry:
            found.append(("dimension", f"unknown dimension {self.dimension!r}; known: {', '.join(registry)}"))
        elif self.dimension not in (by := metric_dimensions(self.metric)):
            found.append(("dimension", f"{self.metric} is not computed by {self.dimension}; "
                                       f"its dimensions: {', '.join(by)}"))
        unit = CATALOG[self.metric].unit
        if self.condition not in ("below", "above"):
            if not 0 < self.threshold <= 1:
                found.append(("threshold", f"{self.threshold:g} is not a relative change in (0, 1] "
                                           f"(0.15 means 15%)"))
        elif unit == "ratio" and not 0 <= self.threshold <= 1:
            found.append(("threshold", f"{self.threshold:g} is not a rate in [0, 1] (0.95 means 95%)"))
        elif self.threshold < 0:
            found.append(("threshold", f"{self.threshold:g} is below 0; a {unit} is at least 0"))
        return found


def default_thresholds(vertical: str | None = None) -> list[ThresholdRule]:
    """The built-in rules; of ``vertical``'s metrics only, when given."""
    rules = [
        ThresholdRule(metric="dau", condition="drop_vs_last_week", threshold=0.15, severity="P2"),
        ThresholdRule(metric="payment_success_rate", condition="below", threshold=0.95, severity="P1"),
        ThresholdRule(metric="ad_ctr", condition="below", threshold=0.01, dimension="channel", severity="P3"),
        # the social pack's (an e-commerce shop has no share rate: the rule finds nothing there)
        ThresholdRule(metric="share_rate", condition="drop_vs_last_week", threshold=0.15, severity="P2"),
    ]
    if vertical is None:
        return rules
    pack = {m.name for m in metrics_for(vertical)}
    return [r for r in rules if r.metric in pack]


# What a playbook entry may name: the catalogue's KPIs, and the watch's urgent-feedback count (an alert, not a KPI).
PLAYBOOK_METRICS = (*CATALOG, "urgent_feedback")


class PlaybookEntry(_Strict):
    """One suggested action, shown under matching alerts (see opscadence.reporting.playbook).

    ``metric`` is a metric name or ``*``; ``rule`` (an alert's rule id, e.g. a threshold
    rule's ``name``), ``kind`` and ``direction`` narrow it further. Texts are Slack mrkdwn,
    one per locale.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    rule: str | None = Field(None, min_length=1)
    kind: Literal["threshold", "anomaly", "data_quality"] | None = None
    direction: Literal["down", "up"] | None = None
    zh_cn: str = Field(alias="zh-CN", min_length=1, max_length=500)
    en: str = Field(min_length=1, max_length=500)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value != "*" and value not in PLAYBOOK_METRICS:
            raise ValueError(f"unknown metric {value!r}; expected '*' or one of {', '.join(PLAYBOOK_METRICS)}")
        return value

    @model_validator(mode="after")
    def _data_quality_is_about_tables(self) -> "PlaybookEntry":
        # Data-quality alerts name tables, not metrics, and have no direction: such an entry would never apply.
        if self.kind == "data_quality" and (self.metric != "*" or self.direction is not None):
            raise ValueError("an entry of kind data_quality takes metric '*' and no direction")
        return self

    def text(self, locale: str) -> str:
        return self.zh_cn if locale == "zh-CN" else self.en


class SlackChannels(_Strict):
    product: str | None = None
    tech: str | None = None
    marketing: str | None = None
    alerts: str | None = None
    # Alert routing by severity; each falls back to ``alerts``.
    p1: str | None = None
    p2: str | None = None
    p3: str | None = None

    def severity_channel(self, severity: str) -> str:
        routed = {"P1": self.p1, "P2": self.p2, "P3": self.p3}.get(severity)
        return routed or self.alert_channel()

    def brief_channels(self) -> list[str]:
        """Distinct channels that receive the daily brief, in audience order."""
        named = [c for c in (self.product, self.tech, self.marketing) if c]
        return list(dict.fromkeys(named)) or [DEFAULT_BRIEF_CHANNEL]

    def alert_channel(self) -> str:
        return self.alerts or DEFAULT_ALERT_CHANNEL


class SlackConfig(_Strict):
    channels: SlackChannels = Field(default_factory=SlackChannels)
    # Name of a Prefect Secret block holding the bot token (used when SLACK_BOT_TOKEN is unset).
    token_block: str | None = None
    # Who an unacknowledged P1 escalates to, as Slack mention syntax, e.g. "<!subteam^S0123>".
    oncall_mention: str | None = None
    # One Slack request waits at most this long; a run spends at most max_delivery_seconds on
    # Slack (retries included), then what is left goes to the outbox.
    request_timeout_seconds: float = Field(10, gt=0, le=300)
    max_delivery_seconds: float = Field(60, gt=0, le=3600)


class MetricDetection(_Strict):
    """Per-metric overrides of the anomaly detector's policy (see opscadence.detection.detector.default_policy)."""

    direction: Literal["drop", "rise", "both"] | None = None
    min_relative_change: float | None = Field(None, ge=0)
    sensitivity: float | None = Field(None, gt=0)
    min_denominator: float | None = Field(None, ge=0)
    severity: Literal["P1", "P2", "P3"] | None = None
    enabled: bool = True


class DetectionConfig(_Strict):
    """Seasonal anomaly detection on every daily KPI (the whole shop)."""

    enabled: bool = True
    lookback_days: int = Field(84, ge=14)  # history the detector reads from the KPI mart
    min_history: int = Field(14, ge=7)  # fewer earlier points: no verdict
    severity: Literal["P1", "P2", "P3"] = "P2"
    metrics: dict[str, MetricDetection] = Field(default_factory=lambda: {"payment_success_rate": MetricDetection(severity="P1")})


class CalendarEntry(_Strict):
    """A promotion or holiday (双11, 618, Spring Festival): excluded from training, judged with its uplift."""

    date: date_type
    name: str
    expected_uplift: float = 0.0  # +1.5 = 150% above a normal day
    metrics: list[str] | None = None  # None: every count/currency metric


class WatchConfig(_Strict):
    """The intraday watch over today's partial data (every 15 minutes)."""

    payment_success_below: float = Field(0.95, gt=0, lt=1)  # P1 when confidently below this
    min_payment_attempts: int = Field(50, ge=1)  # fewer attempts so far: no verdict
    orders_drop: float = Field(0.30, gt=0, lt=1)  # P1 when orders so far fall this far below last week
    min_orders_last_week: int = Field(20, ge=1)  # by the same time; fewer: no verdict
    late_after_minutes: int = Field(60, ge=5)  # no events for this long while last week had some: data late


class AlertingConfig(_Strict):
    """The alert lifecycle: pending → firing → resolved, with P1 service levels."""

    pending_periods: int = Field(0, ge=0)  # evaluations a breach stays pending before it fires
    daily_reminder: bool = False  # re-post a still-firing alert once a day
    p1_ack_minutes: int = Field(30, gt=0)  # unacknowledged P1 escalates after this
    p1_resolve_minutes: int = Field(120, gt=0)  # unresolved P1 escalates after this


class BackfillConfig(_Strict):
    """Where backfill chunks run: Prefect task runs on a task runner.

    ``process``: Prefect's process pool on this machine (``--concurrency`` processes).
    ``dask``: a Dask cluster (prefect-dask, the ``dask`` extra): the scheduler at
    ``dask_address`` (``tcp://host:8786``), or a local cluster of ``--concurrency`` workers.
    """

    runner: Literal["process", "dask"] = "process"
    dask_address: str | None = None


# The raw tables a source can own (keys of opscadence.warehouse.RAW_TABLES).
RawTable = Literal["users", "events", "orders", "payments", "ad_spend", "feedback"]


class WeeklyConfig(_Strict):
    """The weekly review's analyses (each settings model lives with its analysis)."""

    attribution: AttributionConfig = Field(default_factory=AttributionConfig)
    rfm: RfmConfig = Field(default_factory=RfmConfig)
    abtest: AbTestConfig = Field(default_factory=AbTestConfig)
    painpoints: PainPointConfig = Field(default_factory=PainPointConfig)


class PrivacyConfig(_Strict):
    """How customer ids are pseudonymised (opscadence.core.privacy.pseudonym_key).

    ``demo`` (the default): the key is ``OPSCADENCE_PSEUDONYM_KEY`` when set, else a random key
    file made on first use in the home (``pseudonym.key``, 0600). ``production``: the key must come
    from ``OPSCADENCE_PSEUDONYM_KEY`` (the same on every machine that runs the flows); a missing
    one stops ``run``, ``backfill``, ``import`` and ``forget`` before they start, and the key file
    is never read or made.
    """

    mode: Literal["demo", "production"] = "demo"


class SourceConfig(_Strict):
    """Where raw data comes from, and which raw tables it owns.

    ``warehouse``: raw tables already landed in the warehouse (the demo writes them).
    ``csv``: a directory of shop exports laid out as ``<path>/<YYYY-MM-DD>/<table>.csv``.
    ``sql``: another database (your own BI warehouse) at ``url``, read through one query file per
    raw table (``queries``; see :class:`opscadence.sources.sql_query.SqlQuerySource`). Its
    tables are the keys of ``queries``. The URL's password is never written in the file: it is a
    ``${NAME}`` reference, read from the environment variable ``NAME`` when connecting.
    ``tables``: the raw tables this source provides (default: all of them). A shop without
    an events export lists the others; KPIs that need a table no source owns are reported as
    unavailable, never computed as zeros.
    """

    kind: Literal["warehouse", "csv", "sql"] = "warehouse"
    path: Path | None = None
    encoding: str = "auto"
    tables: list[RawTable] | None = None
    # sql: may hold a ${NAME} password reference; never in repr (Prefect, logs)
    url: str | None = Field(None, repr=False)
    # sql: raw table -> query file (.sql); a relative path is taken from the config file's folder
    queries: dict[RawTable, Path] | None = None

    @model_validator(mode="after")
    def _csv_needs_path(self) -> "SourceConfig":
        if self.kind == "csv" and self.path is None:
            raise ValueError("source.path is required when source.kind is 'csv'")
        if self.tables is not None and not self.tables:
            raise ValueError("tables: list at least one raw table, or leave the key out for all of them")
        if self.kind == "sql":
            if not self.url:
                raise ValueError("url: required when kind is 'sql' (a SQLAlchemy URL, e.g. "
                                 "postgresql+psycopg://bi:${BI_PASSWORD}@bi-host/dw)")
            problem = sql_url_problem(self.url)
            if problem:
                raise ValueError(f"url: {problem}")
            if not self.queries:
                raise ValueError("queries: required when kind is 'sql' (raw table -> query file, "
                                 "e.g. {orders: bi/orders.sql})")
            if self.tables is not None:
                raise ValueError("tables: not used when kind is 'sql'; its tables are the keys of queries")
            for table, file in self.queries.items():
                if file.suffix.lower() != ".sql":
                    raise ValueError(f"queries.{table}: {file} is not a .sql file")
        else:
            for key in ("url", "queries"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key}: only used when kind is 'sql'")
        return self

    def owned_tables(self) -> tuple[str, ...]:
        if self.kind == "sql" and self.queries:
            return tuple(t for t in get_args(RawTable) if t in self.queries)
        return tuple(self.tables) if self.tables is not None else get_args(RawTable)


# A password written as a reference to an environment variable: ${NAME}
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def sql_url_problem(url: str) -> str | None:
    """Why a SQL source's URL cannot be used as written in the config, or None: it must parse as
    a SQLAlchemy URL, and a password must be a ``${NAME}`` reference (never a literal)."""
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except Exception:  # the URL is not shown: its password cannot be found in it
        return "not a database URL (dialect+driver://user@host/db); not shown, as it may hold a password"
    password = parsed.password
    if password is not None and not ENV_REFERENCE.fullmatch(str(password)):
        return (f"{parsed.render_as_string(hide_password=True)} holds a password; write it as a reference "
                "to an environment variable, e.g. bi:${BI_PASSWORD}@host, and set that variable")
    return None


def user_data_dir() -> Path:
    """The user's data directory for opscadence (platformdirs): ``$XDG_DATA_HOME/opscadence`` or
    ``~/.local/share/opscadence`` on Linux, ``~/Library/Application Support/opscadence`` on
    macOS, ``%LOCALAPPDATA%\\opscadence`` on Windows."""
    import platformdirs

    return Path(platformdirs.user_data_dir("opscadence", appauthor=False))


class Config(_Strict):
    # Where the default SQLite warehouse and the outbox live: one place whatever the working
    # directory (absolute; a relative home in the config file is taken from the file's folder).
    home: Path = Field(default_factory=lambda: user_data_dir())
    # May carry a password: never in repr (Prefect, logs); masked by `opscadence config`.
    warehouse_url: str | None = Field(None, repr=False)
    timezone: str = "Asia/Shanghai"
    locale: Literal["zh-CN", "en"] = "zh-CN"
    vertical: Literal["ecommerce", "social"] = "ecommerce"
    thresholds: list[ThresholdRule] = Field(default_factory=default_thresholds)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    source: SourceConfig = Field(default_factory=SourceConfig)
    # Several sources, each owning some raw tables (events from one, orders from another);
    # when given, it replaces ``source``.
    sources: list[SourceConfig] = Field(default_factory=list)
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    backfill: BackfillConfig = Field(default_factory=BackfillConfig)
    weekly: WeeklyConfig = Field(default_factory=WeeklyConfig)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    watch: WatchConfig = Field(default_factory=WatchConfig)
    calendar: list[CalendarEntry] = Field(default_factory=list)
    # The team's suggested actions, consulted before the built-in ones (opscadence.reporting.playbook).
    playbook: list[PlaybookEntry] = Field(default_factory=list)
    # Feedback containing any of these (case-insensitive) is counted as urgent in the brief.
    urgent_keywords: list[str] = Field(
        default_factory=lambda: ["支付失败", "付款失败", "账号被封", "封号", "payment failed", "account banned"]
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return Path(os.path.abspath(value.expanduser()))  # relative (OPSCADENCE_HOME): from the working directory

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _one_owner_per_table(self) -> "Config":
        owner: dict[str, int] = {}
        for index, source in enumerate(self.sources):
            for table in source.owned_tables():
                if table in owner:
                    raise ValueError(f"sources[{index}].tables: {table!r} is already provided by "
                                     f"sources[{owner[table]}]; each raw table has one source")
                owner[table] = index
        return self

    @property
    def source_list(self) -> list[SourceConfig]:
        """The configured sources: ``sources``, or the single ``source``."""
        return list(self.sources) or [self.source]

    @property
    def provided_tables(self) -> frozenset[str]:
        """The raw tables some configured source provides."""
        return frozenset(t for source in self.source_list for t in source.owned_tables())

    @model_validator(mode="after")
    def _metrics_exist(self) -> "Config":
        """Every key that names a metric names one the vertical's KPI mart holds (see
        :meth:`ThresholdRule.problems`); built-in defaults keep only the vertical's metrics."""
        pack = [m.name for m in metrics_for(self.vertical)]
        if "thresholds" not in self.model_fields_set:
            self.thresholds = default_thresholds(self.vertical)
        if "metrics" not in self.detection.model_fields_set:
            self.detection.metrics = {k: v for k, v in self.detection.metrics.items() if k in pack}
        found = [
            f"thresholds[{i}].{key} ({rule.describe()}): {what}"
            for i, rule in enumerate(self.thresholds) for key, what in rule.problems(self.vertical)
        ]

        def unknown(key: str, metric: str, allowed: list[str]) -> None:
            if metric not in allowed:
                found.append(f"{key}: {metric!r} is not a metric of the {self.vertical} vertical; "
                             f"known: {', '.join(allowed)}")

        for metric in self.detection.metrics:
            unknown(f"detection.metrics.{metric}", metric, pack)
        for i, entry in enumerate(self.calendar):
            for metric in entry.metrics or []:
                unknown(f"calendar[{i}].metrics ({entry.name})", metric, pack)
        for i, playbook_entry in enumerate(self.playbook):
            if playbook_entry.metric != "*":
                unknown(f"playbook[{i}].metric", playbook_entry.metric, [*pack, "urgent_feedback"])
        if found:
            raise PydanticCustomError("unusable_metric", "\n  ".join(found))
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def resolved_warehouse_url(self) -> str:
        if self.warehouse_url:
            return self.warehouse_url
        return f"sqlite:///{(self.home / 'warehouse.sqlite').resolve()}"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX):]
        if not key or key in _NOT_KEYS:
            continue
        path = key.lower().split("__")
        node = overrides
        for part in path[:-1]:
            node = node.setdefault(part, {})
        # YAML parsing lets lists/numbers be given in the environment; plain strings stay strings.
        value = yaml.safe_load(raw) if raw.strip()[:1] in "[{" else raw
        node[path[-1]] = value
    return overrides


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _format_error(source: str, err: ValidationError) -> str:
    lines = [f"invalid configuration ({source}):"]
    for item in err.errors():
        key = ".".join(str(p) for p in item["loc"])
        # A check across keys (Config's own validators) names its keys in the message.
        lines.append(f"  {key}: {item['msg']}" if key else f"  {item['msg']}")
    return "\n".join(lines)


def config_path(environ: dict[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("OPSCADENCE_CONFIG", "opscadence.yaml"))


def _read_utf8(file: Path) -> str:
    """The file's text; a file that cannot be read or is not UTF-8 is a :class:`ConfigError` naming it."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {file}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(
            f"invalid configuration ({file}): must be UTF-8; byte 0x{data[exc.start]:02x} at offset {exc.start} "
            f"(line {line}) is not (save the file as UTF-8)"
        ) from None


def _yaml_where(exc: yaml.YAMLError) -> str:
    """`` at line L, column C: problem`` (1-based) from PyYAML's error, on one line."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{where}: {problem}"


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """Load and validate the configuration; raise :class:`ConfigError` naming the bad key."""
    environ = dict(os.environ if environ is None else environ)
    file = Path(path) if path is not None else config_path(environ)
    data: dict[str, Any] = {}
    source = "defaults"
    if file.exists():
        source = str(file)
        try:
            loaded = yaml.safe_load(_read_utf8(file))
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid configuration ({file}): not valid YAML{_yaml_where(exc)}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"invalid configuration ({file}): the top level must be a mapping")
        data = loaded or {}
        _reject_secrets(file, data)
        if isinstance(data.get("home"), str) and not Path(data["home"]).expanduser().is_absolute():
            data["home"] = str(file.resolve().parent / data["home"])  # the file's folder, not the working directory
        _queries_from_file_folder(file, data)
    elif path is not None or "OPSCADENCE_CONFIG" in environ:
        raise ConfigError(f"configuration file not found: {file}")
    overrides = _env_overrides(environ)
    if overrides:
        source += " + environment"
    merged = _deep_merge(data, overrides)
    if merged.get("home") in (None, ""):
        merged["home"] = str(user_data_dir())
    try:
        return Config.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(_format_error(source, err)) from None


def _queries_from_file_folder(file: Path, data: dict[str, Any]) -> None:
    """Relative query files of SQL sources are taken from the config file's folder."""
    listed = [data.get("source")] + (data.get("sources") if isinstance(data.get("sources"), list) else [])
    for one in listed:
        if isinstance(one, dict) and isinstance(one.get("queries"), dict):
            one["queries"] = {
                table: str(file.resolve().parent / q) if isinstance(q, str) and not Path(q).expanduser().is_absolute()
                else q
                for table, q in one["queries"].items()
            }


_SECRET_WORDS = ("token", "secret", "password", "api_key", "apikey")


def _reject_secrets(file: Path, data: Any, prefix: str = "") -> None:
    """Secrets belong in the environment or Prefect Secret blocks, never in the YAML."""
    if isinstance(data, dict):
        for key, value in data.items():
            dotted = f"{prefix}{key}"
            if str(key).lower().endswith(_SECRET_WORDS):
                raise ConfigError(
                    # worded "<key> holds a secret", not "<key>: …": error lines pass the secret mask
                    f"invalid configuration ({file}): {dotted} holds a secret; secrets are read from "
                    "environment variables or Prefect Secret blocks, not from the config file"
                )
            _reject_secrets(file, value, dotted + ".")
