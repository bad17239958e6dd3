"""Extract: read a day's raw partitions from the configured source."""

from datetime import date

from prefect import task
from prefect.cache_policies import NO_CACHE

from opscadence.pipelines.daily import Extracted, extract_day
from opscadence.sources import PartitionSource


@task(name="extract-partitions", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def extract_partitions(source: PartitionSource, ds: date) -> Extracted:
    return extract_day(source, ds)
