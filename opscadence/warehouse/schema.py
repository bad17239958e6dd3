"""Warehouse schema: raw tables, marts, alert and delivery state; engines (SQLAlchemy 2 Core).

Raw tables carry a ``ds`` partition column: the calendar date in the shop's
timezone. Timestamps are stored as naive shop-local datetimes, so SQL never has to
do timezone arithmetic and runs unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opscadence.core.errors import UserError
from opscadence.core.privacy import mask_secrets

metadata = sa.MetaData()


def _ds() -> sa.Column:
    return sa.Column("ds", sa.Date, nullable=False, index=True)


# --- raw tables: one row per source record, partitioned by ds -----------------------------
raw_users = sa.Table(
    "raw_users", metadata,
    _ds(),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("signup_at", sa.DateTime, nullable=False),
    sa.Column("channel", sa.String(64)),
    sa.Column("platform", sa.String(32)),
    sa.Column("region", sa.String(64)),
)

raw_events = sa.Table(
    "raw_events", metadata,
    _ds(),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("event_at", sa.DateTime, nullable=False),
    sa.Column("visitor_id", sa.String(64), nullable=False),  # device/cookie id; DAU counts these
    sa.Column("user_id", sa.String(64)),  # null while not logged in
    sa.Column("session_id", sa.String(64), nullable=False),
    sa.Column("event_name", sa.String(64), nullable=False),
    sa.Column("page", sa.String(255)),
    sa.Column("platform", sa.String(32)),
    sa.Column("utm_source", sa.String(128)),
    sa.Column("utm_medium", sa.String(128)),
    sa.Column("utm_campaign", sa.String(255)),
    sa.Column("engagement_seconds", sa.Float),  # social pack: interaction time
)

raw_orders = sa.Table(
    "raw_orders", metadata,
    _ds(),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("order_at", sa.DateTime, nullable=False),
    sa.Column("amount", sa.Numeric(14, 2), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # created | paid | cancelled | refunded
    sa.Column("platform", sa.String(32)),
    sa.Column("channel", sa.String(64)),
    # repurchase looks up each buyer's earlier orders (kpi/order_measures)
    sa.Index("ix_raw_orders_user_ds", "user_id", "ds"),
)

raw_payments = sa.Table(
    "raw_payments", metadata,
    _ds(),
    sa.Column("attempt_id", sa.String(64), nullable=False),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("attempt_at", sa.DateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # success | failed
    sa.Column("method", sa.String(32)),
    sa.Column("platform", sa.String(32)),
    sa.Column("error_code", sa.String(64)),
)

raw_ad_spend = sa.Table(
    "raw_ad_spend", metadata,
    _ds(),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("campaign", sa.String(255), nullable=False),
    sa.Column("impressions", sa.BigInteger, nullable=False),
    sa.Column("clicks", sa.BigInteger, nullable=False),
    sa.Column("cost", sa.Numeric(14, 2), nullable=False),
)

raw_feedback = sa.Table(
    "raw_feedback", metadata,
    _ds(),
    sa.Column("feedback_id", sa.String(64), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),  # app_review | customer_service | survey | social
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("rating", sa.Integer),
    sa.Column("text", sa.Text),
    sa.Column("user_id", sa.String(64)),
)

RAW_TABLES: dict[str, sa.Table] = {
    "users": raw_users,
    "events": raw_events,
    "orders": raw_orders,
    "payments": raw_payments,
    "ad_spend": raw_ad_spend,
    "feedback": raw_feedback,
}

# The timestamp column of each raw table that must fall inside its ds partition.
PARTITION_TIME_COLUMN: dict[str, str | None] = {
    "users": "signup_at",
    "events": "event_at",
    "orders": "order_at",
    "payments": "attempt_at",
    "ad_spend": None,
    "feedback": "created_at",
}

# --- marts -------------------------------------------------------------------------------
# One row per ds × metric × dimension × dimension_value. numerator/denominator are kept for
# rate metrics so later stages can judge a rate against its volume.
mart_daily_kpis = sa.Table(
    "mart_daily_kpis", metadata,
    _ds(),
    sa.Column("metric", sa.String(64), nullable=False),
    sa.Column("dimension", sa.String(32), nullable=False),
    sa.Column("dimension_value", sa.String(255), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("numerator", sa.Float),
    sa.Column("denominator", sa.Float),
    sa.UniqueConstraint("ds", "metric", "dimension", "dimension_value", name="uq_mart_daily_kpis"),
)

# One row per ds × step × dimension × dimension_value.
mart_daily_funnel = sa.Table(
    "mart_daily_funnel", metadata,
    _ds(),
    sa.Column("step_index", sa.Integer, nullable=False),
    sa.Column("step", sa.String(32), nullable=False),
    sa.Column("dimension", sa.String(32), nullable=False),
    sa.Column("dimension_value", sa.String(255), nullable=False),
    sa.Column("users", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("ds", "step", "dimension", "dimension_value", name="uq_mart_daily_funnel"),
)

# One row per ds × visitor × platform × channel that was active that day (platform
# 'unknown' and channel 'direct' when missing). Written by compute_day; MAU reads 30 days of
# this instead of 30 days of raw events (and raw events for days that do not have it yet).
mart_daily_visitors = sa.Table(
    "mart_daily_visitors", metadata,
    sa.Column("ds", sa.Date, nullable=False),
    sa.Column("visitor_id", sa.String(64), nullable=False),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(128), nullable=False),
    # not unique: two backfill workers filling the same missing day may both write it, and
    # MAU counts distinct visitors; the composite index makes MAU an index-only read
    sa.Index("ix_mart_daily_visitors_ds_visitor", "ds", "visitor_id", "platform", "channel"),
)

# One row per day: the window bounds KPI queries join on, so date arithmetic stays out of
# SQL (it differs between SQLite and PostgreSQL). Filled by calendar.ensure_calendar for the days a
# computation needs; rows never change once written.
dim_calendar = sa.Table(
    "dim_calendar", metadata,
    sa.Column("ds", sa.Date, primary_key=True),
    # the first day of the 90 days before ds that count for repurchase (ds - 90)
    sa.Column("repurchase_window_start", sa.Date, nullable=False),
)

MAU_DAYS = 30
REPURCHASE_DAYS = 90

# One row per cadence × ds whose marts are written: the fingerprint of the raw partitions and of
# the definitions they were built from, so "complete" means "written from these inputs".
mart_inputs = sa.Table(
    "mart_inputs", metadata,
    _ds(),
    sa.Column("cadence", sa.String(32), nullable=False),
    sa.Column("inputs", sa.String(64), nullable=False),  # sha256 of the raw partitions' checksums
    sa.Column("definitions", sa.String(64), nullable=False),  # sha256 of SQL, catalogue and vertical
    sa.Column("details", sa.Text, nullable=False),  # the checksums, JSON (what changed, for messages)
    sa.UniqueConstraint("cadence", "ds", name="uq_mart_inputs_cadence_ds"),
)


# One row per ds × rule × dimension_value that breached.
alerts = sa.Table(
    "alerts", metadata,
    _ds(),
    sa.Column("rule_id", sa.String(255), nullable=False),
    sa.Column("metric", sa.String(64), nullable=False),
    sa.Column("dimension", sa.String(32), nullable=False),
    sa.Column("dimension_value", sa.String(255), nullable=False),
    sa.Column("condition", sa.String(32), nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("baseline", sa.Float),
    sa.Column("severity", sa.String(4), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False, server_default="threshold"),  # threshold | data_quality
    sa.UniqueConstraint("ds", "rule_id", "dimension_value", name="uq_alerts"),
)

# One row per ds × table × expectation: the stored validation result.
dq_results = sa.Table(
    "dq_results", metadata,
    _ds(),
    sa.Column("table_name", sa.String(32), nullable=False),
    sa.Column("expectation", sa.String(128), nullable=False),
    sa.Column("column_name", sa.String(64)),
    sa.Column("severity", sa.String(16), nullable=False),  # critical | warning
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("unexpected_count", sa.BigInteger),
    sa.Column("sample", sa.Text),  # JSON list of sample keys / row numbers, never personal data
    sa.Column("detail", sa.Text),
)

# One row per kind × ds × channel: what was sent, where, and Slack's message ts.
briefs = sa.Table(
    "briefs", metadata,
    sa.Column("kind", sa.String(32), nullable=False),
    _ds(),
    sa.Column("channel", sa.String(128), nullable=False),  # the configured channel name
    sa.Column("channel_id", sa.String(64)),  # Slack's id, needed by chat.update
    sa.Column("message_ts", sa.String(32)),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # sent | pending | in_flight
    sa.Column("payload", sa.Text, nullable=False),  # the Block Kit payload (JSON)
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # Added later (init_schema adds them to an existing warehouse):
    sa.Column("period", sa.String(32)),  # the shop-timezone period key the message is about
    sa.Column("last_error", sa.Text),  # why the last attempt failed (Slack's error code first)
    sa.Column("in_flight_at", sa.DateTime),  # naive UTC: when the post whose outcome is unknown began
    sa.UniqueConstraint("kind", "ds", "channel", name="uq_briefs"),
)

# One row per alert fingerprint (rule × series): its lifecycle pending → firing → resolved,
# acknowledgement, silence and where its firing message is (see opscadence.alerting.lifecycle).
# Timestamps are naive UTC (bookkeeping times, not shop-local event times).
alert_states = sa.Table(
    "alert_states", metadata,
    sa.Column("fingerprint", sa.String(40), primary_key=True),
    sa.Column("rule_id", sa.String(255), nullable=False),
    sa.Column("metric", sa.String(64), nullable=False),
    sa.Column("dimension", sa.String(32), nullable=False),
    sa.Column("dimension_value", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # threshold | anomaly | watch | data_quality
    sa.Column("severity", sa.String(4), nullable=False),
    sa.Column("condition", sa.String(32)),  # the rule's condition, to re-render the alert
    sa.Column("threshold", sa.Float),
    sa.Column("state", sa.String(16), nullable=False),  # pending | firing | resolved
    sa.Column("scope", sa.String(32), nullable=False, index=True),  # evaluation family: daily | watch ...
    sa.Column("pending_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_seen_at", sa.DateTime, nullable=False),
    sa.Column("fired_at", sa.DateTime),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("last_seen_at", sa.DateTime),
    sa.Column("last_period", sa.String(32)),  # the evaluation's period key: 2026-11-24 | 2026-11-24T14:15
    sa.Column("last_value", sa.Float),
    sa.Column("last_baseline", sa.Float),
    sa.Column("summary", sa.Text),  # the rendered one-line description
    sa.Column("details", sa.Text),  # JSON list of lines (root cause ...)
    sa.Column("acked_at", sa.DateTime),
    sa.Column("acked_by", sa.String(128)),
    sa.Column("silenced_until", sa.DateTime),
    sa.Column("channel", sa.String(128)),  # the configured channel name of the firing message
    sa.Column("channel_id", sa.String(64)),
    sa.Column("thread_ts", sa.String(32)),  # the firing message's ts: replies go in its thread
    sa.Column("escalated_at", sa.DateTime),
    sa.Column("resolve_escalated_at", sa.DateTime),
    sa.Column("last_reminder_on", sa.Date),
)


# GX validates PostgreSQL partitions in SQL with a day filter on extract(year/month/day from ds);
# an expression index lets those checks read the day instead of scanning the table.
for _table in RAW_TABLES.values():
    sa.event.listen(
        _table,
        "after_create",
        sa.DDL(
            f"create index if not exists ix_{_table.name}_ds_parts on {_table.name} "
            "((extract(year from ds)), (extract(month from ds)), (extract(day from ds)))"
        ).execute_if(dialect="postgresql"),
    )


class WarehouseURLError(UserError):
    """The warehouse URL cannot be used (the message shows it with its password masked)."""


def create_engine(url: str) -> Engine:
    """Engine for the warehouse URL; SQLite files get their parent directory created.

    A failure to connect (server down, wrong database, unreadable file) raises
    :class:`~opscadence.core.errors.UserError` naming the warehouse without its password. No
    error of this engine shows the URL's password: a URL SQLAlchemy cannot use raises
    :class:`WarehouseURLError` with the URL masked, and a driver error that quotes the password
    (a malformed connection string) has it masked (:func:`opscadence.core.privacy.mask_secrets`).
    """
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        from pathlib import Path

        folder = Path(url[len("sqlite:///"):]).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the warehouse folder {folder}: {exc.strerror or exc}") from None
    try:
        parsed = sa.engine.make_url(url)
    except Exception:  # not a URL: it cannot be shown, since its password cannot be found in it
        raise WarehouseURLError("warehouse_url is not a database URL (dialect+driver://user:password@host/db); "
                                "not shown, as it may hold a password") from None
    try:
        engine = sa.create_engine(parsed, future=True)
    except Exception as exc:  # ArgumentError, NoSuchModuleError, a driver's own: all may quote the URL
        secrets = [url, *([parsed.password] if parsed.password else [])]
        raise WarehouseURLError(
            f"warehouse_url {parsed.render_as_string(hide_password=True)} cannot be used: "
            f"{mask_secrets(str(exc), secrets)}"
        ) from None
    if engine.url.password:
        _mask_password_in_errors(engine, str(engine.url.password))
    sa.event.listen(engine, "handle_error", _connect_error_names_the_warehouse)
    if engine.dialect.name == "sqlite":
        # Writers hold the database for one short transaction; readers should wait, not fail.
        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("pragma busy_timeout = 30000")
            cur.execute("pragma journal_mode = wal")
            # In WAL mode NORMAL cannot corrupt the file; it skips the fsync per commit (a
            # backfill commits a few times per day: measured 37 ms each on this disk).
            cur.execute("pragma synchronous = normal")
            cur.close()

    return engine


def warehouse_name(engine: Engine) -> str:
    """The warehouse as a user knows it: the SQLite file, or the URL with its password masked."""
    if engine.dialect.name == "sqlite":
        return engine.url.database or ":memory:"
    return engine.url.render_as_string(hide_password=True)


def _connect_error_names_the_warehouse(context: sa.engine.ExceptionContext) -> None:
    # Only failures to connect (no connection yet); errors of a statement keep their own type.
    if context.connection is not None:
        return
    reason = (str(context.original_exception).strip().splitlines() or ["unknown error"])[0]
    what = "open" if context.engine is not None and context.engine.dialect.name == "sqlite" else "connect to"
    name = warehouse_name(context.engine) if context.engine is not None else "(unknown)"
    raise UserError(f"cannot {what} the warehouse {name}: {mask_secrets(reason)}") from context.original_exception


def _mask_password_in_errors(engine: Engine, password: str) -> None:
    @sa.event.listens_for(engine, "handle_error")
    def _mask(context):  # noqa: ANN001 - SQLAlchemy's ExceptionContext
        # Edited in place, so callers still catch OperationalError, IntegrityError, …
        for exc in (context.sqlalchemy_exception, context.original_exception):
            if exc is not None and any(password in str(arg) for arg in exc.args):
                exc.args = tuple(mask_secrets(str(a), [password]) if isinstance(a, str) else a for a in exc.args)
        statement = getattr(context.sqlalchemy_exception, "statement", None)
        if isinstance(statement, str) and password in statement:
            context.sqlalchemy_exception.statement = mask_secrets(statement, [password])


def init_schema(engine: Engine) -> None:
    """Create missing tables, and the columns and indexes added to tables that already exist."""
    metadata.create_all(engine)
    _add_missing_columns(engine)
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(engine, checkfirst=True)


def _add_missing_columns(engine: Engine) -> None:
    """``alter table … add column`` for each nullable column a table of an older warehouse lacks."""
    inspector = sa.inspect(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            existing = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in existing:
                    continue
                if not column.nullable:
                    raise RuntimeError(f"cannot add the required column {table.name}.{column.name} to an existing table")
                kind = column.type.compile(dialect=engine.dialect)
                # "if not exists": two runs upgrading at once must not fail (PostgreSQL has it, SQLite not)
                guard = "if not exists " if engine.dialect.name == "postgresql" else ""
                conn.execute(sa.text(f"alter table {table.name} add column {guard}{column.name} {kind}"))


# --- pain points
# One row per ISO week × pain-point category (opscadence.analytics.weekly.painpoints): the week's
# ranking, replaced whole for its week in one transaction. ``quotes`` holds masked, truncated
# feedback only (no personal data); the customers themselves are never stored here.
mart_weekly_painpoints = sa.Table(
    "mart_weekly_painpoints", metadata,
    sa.Column("week", sa.Date, nullable=False, index=True),  # the Monday that starts the ISO week (shop calendar)
    sa.Column("category", sa.String(32), nullable=False),  # a configured category key, or "other"
    sa.Column("rank", sa.Integer, nullable=False),  # 1 = most feedback this week; "other" always last
    sa.Column("change_rank", sa.Integer, nullable=False),  # 1 = largest rise against last week; "other" last
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("previous_count", sa.Integer),  # null: last week has no feedback at all (unknown, not zero)
    sa.Column("change", sa.Integer),  # count - previous_count
    sa.Column("urgent", sa.Boolean, nullable=False),
    sa.Column("urgent_reason", sa.String(32)),  # "growth" | "alert" | "growth,alert"
    sa.Column("linked_alerts", sa.Text, nullable=False),  # JSON list: the week's alerts on the category's metrics
    sa.Column("quotes", sa.Text, nullable=False),  # JSON list of up to 3 masked, truncated texts
    sa.UniqueConstraint("week", "category", name="uq_mart_weekly_painpoints"),
)

# --- experiments
# A/B tests, one row per ds × experiment × variant (the weekly A/B section's input). Kept out of
# RAW_TABLES: the daily pipeline, its sources and CSV exports neither need nor validate it.
# ``users`` are the users first assigned to the variant that day, so days add up; ``conversions``
# are those of them who converted, ``revenue_sum``/``revenue_sum_squares`` the sum and sum of
# squares of their revenue (null when the experiment has no revenue metric).
raw_experiments = sa.Table(
    "raw_experiments", metadata,
    _ds(),
    sa.Column("experiment", sa.String(128), nullable=False),
    sa.Column("variant", sa.String(64), nullable=False),
    sa.Column("users", sa.BigInteger, nullable=False),
    sa.Column("conversions", sa.BigInteger, nullable=False),
    sa.Column("revenue_sum", sa.Float),
    sa.Column("revenue_sum_squares", sa.Float),
    sa.UniqueConstraint("ds", "experiment", "variant", name="uq_raw_experiments"),
)

# The raw tables only the weekly analyses read, and every raw table (the daily ones first).
WEEKLY_RAW_TABLES: dict[str, sa.Table] = {
    "experiments": raw_experiments,
}
ALL_RAW_TABLES: dict[str, sa.Table] = {**RAW_TABLES, **WEEKLY_RAW_TABLES}

# --- RFM ----------------------------------------------------------------------------------
# One row per as_of × customer: the weekly RFM tag a CRM reads (opscadence.analytics.weekly.rfm),
# as of the week's last day. Written per as_of in one transaction (that as_of replaced).
mart_customer_rfm = sa.Table(
    "mart_customer_rfm", metadata,
    sa.Column("customer_id", sa.String(64), nullable=False),  # raw_orders.user_id
    sa.Column("segment", sa.String(32), nullable=False),  # the segment key (RfmConfig.segments)
    sa.Column("recency_days", sa.Integer, nullable=False),  # days from the last paid order to as_of
    sa.Column("frequency", sa.Integer, nullable=False),  # paid orders up to as_of
    sa.Column("monetary", sa.Numeric(14, 2), nullable=False),  # their total amount
    sa.Column("r_score", sa.SmallInteger, nullable=False),  # 1-5, 5 = best
    sa.Column("f_score", sa.SmallInteger, nullable=False),
    sa.Column("m_score", sa.SmallInteger, nullable=False),
    sa.Column("as_of", sa.Date, nullable=False, index=True),
    sa.UniqueConstraint("as_of", "customer_id", name="uq_mart_customer_rfm"),
)

# --- weekly marts ------------------------------------------------------------------------------
# One row per ISO week × metric × dimension × dimension_value; ``ds`` is the week's Monday (so the
# window writer and mart_inputs key a week like a day) and ``week`` its key (2026-W48). Sums and
# ratios of sums come from the week's daily marts, distinct counts (weekly active visitors,
# buyers, funnel steps) from the raw data of the week (opscadence.analytics.weekly.marts).
mart_weekly_kpis = sa.Table(
    "mart_weekly_kpis", metadata,
    _ds(),
    sa.Column("week", sa.String(10), nullable=False),
    sa.Column("metric", sa.String(64), nullable=False),
    sa.Column("dimension", sa.String(32), nullable=False),
    sa.Column("dimension_value", sa.String(255), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("numerator", sa.Float),
    sa.Column("denominator", sa.Float),
    sa.UniqueConstraint("ds", "metric", "dimension", "dimension_value", name="uq_mart_weekly_kpis"),
)

# One row per ISO week × funnel step × dimension × dimension_value: distinct visitors who reached
# the step during the week (ds: the week's Monday).
mart_weekly_funnel = sa.Table(
    "mart_weekly_funnel", metadata,
    _ds(),
    sa.Column("week", sa.String(10), nullable=False),
    sa.Column("step_index", sa.Integer, nullable=False),
    sa.Column("step", sa.String(32), nullable=False),
    sa.Column("dimension", sa.String(32), nullable=False),
    sa.Column("dimension_value", sa.String(255), nullable=False),
    sa.Column("users", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("ds", "step", "dimension", "dimension_value", name="uq_mart_weekly_funnel"),
)

# One row per day × registered user active that day (the user's id on an event, or a paid
# order), written with the week's marts for the week's days (``ds``: the day itself, not the
# week's Monday). Retention reads 12 weeks of these small rows instead of 12 weeks of raw events.
mart_weekly_active_users = sa.Table(
    "mart_weekly_active_users", metadata,
    _ds(),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Index("ix_mart_weekly_active_users_ds_user", "ds", "user_id"),
)
