"""Daily partitions counted in the network timezone (built from the settings when definitions load)."""

import datetime as dt

import dagster as dg

from lastmile.settings import Settings


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """One partition per network-timezone day from `partition_start_date` up to tomorrow."""
    return dg.DailyPartitionsDefinition(
        start_date=settings.partition_start_date.isoformat(),
        timezone=settings.network_timezone,
        end_offset=1,
    )


def partition_bounds(partitions_def: dg.DailyPartitionsDefinition) -> tuple[dt.date, dt.date] | None:
    """The first and last day of the daily partitions that exist now (None before the first one starts)."""
    last_key = partitions_def.get_last_partition_key()
    if last_key is None:
        return None
    return partitions_def.start.date(), dt.date.fromisoformat(last_key)


def partition_key_range(
    partitions_def: dg.DailyPartitionsDefinition, start: dt.date, end: dt.date
) -> dg.PartitionKeyRange | None:
    """The partition keys covering start..end (inclusive), clipped to the partitions that exist."""
    last_key = partitions_def.get_last_partition_key()
    if last_key is None:
        return None
    first = max(start, partitions_def.start.date())
    last = min(end, dt.date.fromisoformat(last_key))
    if first > last:
        return None
    return dg.PartitionKeyRange(first.isoformat(), last.isoformat())


def range_tags(keys: dg.PartitionKeyRange) -> dict[str, str]:
    """Run tags that make one run cover a whole range of partitions."""
    return {
        "dagster/asset_partition_range_start": keys.start,
        "dagster/asset_partition_range_end": keys.end,
    }
