"""Plain-language pieces for alert explanations (local times, durations, distances)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def local_clock(t: datetime, tz: ZoneInfo) -> str:
    """``"02:10"``: the wall-clock time of *t* in *tz*."""
    return t.astimezone(tz).strftime("%H:%M")


def local_stamp(t: datetime, tz: ZoneInfo) -> str:
    """``"02:10 CST on Sun 2026-03-08"``: time, zone abbreviation and date of *t* in *tz*."""
    loc = t.astimezone(tz)
    return f"{loc:%H:%M} {loc.tzname()} on {loc:%a %Y-%m-%d}"


def local_span(first: datetime, last: datetime, tz: ZoneInfo) -> str:
    """``"between 02:10 and 02:14 CST on Sun 2026-03-08"`` (``"at ..."`` when equal; with
    seconds, ``"between 02:10:05 and 02:10:52 ..."``, when both fall in the same minute)."""
    a, b = first.astimezone(tz), last.astimezone(tz)
    if a == b:
        return f"at {local_stamp(first, tz)}"
    if a.date() == b.date() and a.tzname() == b.tzname():
        fmt = "%H:%M:%S" if a.strftime("%H:%M") == b.strftime("%H:%M") else "%H:%M"
        return f"between {a:{fmt}} and {b:{fmt}} {a.tzname()} on {a:%a %Y-%m-%d}"
    return f"between {local_stamp(first, tz)} and {local_stamp(last, tz)}"


def duration(seconds: float) -> str:
    """``"30 minutes"``, ``"2 hours"``, ``"90 seconds"``, ``"1 hour 30 minutes"``."""
    s = round(seconds)
    if s < 120 and s % 60:
        return f"{s} second{'s' if s != 1 else ''}"
    minutes = s // 60
    hours, rem = divmod(minutes, 60)
    if hours == 0:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    text = f"{hours} hour{'s' if hours != 1 else ''}"
    if rem:
        text += f" {rem} minute{'s' if rem != 1 else ''}"
    return text


def metres(value: float) -> str:
    """``"250 m"`` below 1 km (whole metres), ``"1.4 km"`` from 1000 m."""
    if value >= 1000:
        return f"{value / 1000:.1f} km"
    return f"{round(value)} m"
