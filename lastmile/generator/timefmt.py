"""Timestamps as the network's sources write them: 'Z', '+00:00', another offset, or naive local time."""

import datetime as dt
import time
import zoneinfo

UTC = dt.UTC
# For a network in UTC, "another offset for the same instant" is written with this one.
ALT_OFFSET = dt.timezone(dt.timedelta(hours=1))
STYLES = ("Z", "utc", "offset", "naive")


class TimeFormatter:
    def __init__(self, timezone: str) -> None:
        self.tz = zoneinfo.ZoneInfo(timezone)
        self.is_utc = timezone in ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu", "GMT", "Etc/GMT")

    def day_start(self, day: dt.date) -> int:
        """Epoch seconds of local midnight starting `day`."""
        return int(dt.datetime.combine(day, dt.time(0), tzinfo=self.tz).timestamp())

    def local_date(self, t: int) -> dt.date:
        if self.is_utc:
            return dt.date(*time.gmtime(t)[:3])
        return dt.datetime.fromtimestamp(t, self.tz).date()

    def to_datetime(self, t: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(t, UTC)

    def format(self, t: int, style: str) -> str:
        if style == "Z":
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        if style == "utc":
            return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))
        if style == "naive":
            if self.is_utc:
                return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
            local = dt.datetime.fromtimestamp(t, self.tz).replace(tzinfo=None)
            back0 = int(local.replace(tzinfo=self.tz, fold=0).timestamp())
            back1 = int(local.replace(tzinfo=self.tz, fold=1).timestamp())
            if back0 == t and back1 == t:  # not in a DST fold or gap: the wall time names one instant
                return local.isoformat(timespec="seconds")
            style = "offset"
        # style == "offset"
        if self.is_utc:
            return dt.datetime.fromtimestamp(t, ALT_OFFSET).isoformat(timespec="seconds")
        local_aware = dt.datetime.fromtimestamp(t, self.tz)
        if local_aware.utcoffset() == dt.timedelta(0):
            return dt.datetime.fromtimestamp(t, ALT_OFFSET).isoformat(timespec="seconds")
        return local_aware.isoformat(timespec="seconds")
