"""Validate: Great Expectations suites on the day's partitions; the result is stored."""

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.engine import Engine

from opscadence.pipelines.daily import Extracted, validate_day
from opscadence.sources import PartitionSource
from opscadence.quality.report import ValidationReport


@task(name="validate-partitions", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def validate_partitions(engine: Engine, source: PartitionSource, extracted: Extracted) -> ValidationReport:
    return validate_day(engine, source, extracted)
