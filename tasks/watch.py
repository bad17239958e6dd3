"""Intraday watch: judge today's partial data and advance the watch alerts' lifecycle."""

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.engine import Engine

from opscadence.alerting import lifecycle

from opscadence.alerting import watch
from opscadence.core.config import Config


@task(name="evaluate-watch", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 20])
def evaluate_watch(engine: Engine, cfg: Config, now_local: datetime) -> watch.WatchResult:
    return watch.evaluate(engine, cfg, now_local)


@task(name="update-watch-lifecycle", cache_policy=NO_CACHE)
def update_watch_lifecycle(
    engine: Engine, cfg: Config, result: watch.WatchResult, now_utc: datetime
) -> list[lifecycle.Transition]:
    return lifecycle.apply_observations(
        engine, result.observations, scope=watch.SCOPE, period=result.cutoff.isoformat(timespec="minutes"),
        now=now_utc, pending_periods=0, covered=watch.covered(result), locale=cfg.locale,
    )
