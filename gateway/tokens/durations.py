"""Durations accepted as seconds or `timedelta`, normalised once where they are configured."""

from __future__ import annotations

from datetime import timedelta


def seconds(duration: float | timedelta, *, name: str, minimum: float = 0.0) -> float:
    """`duration` in seconds; raises `ValueError` naming `name` when it is below `minimum`."""
    value = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    if not value >= minimum:  # also refuses NaN
        raise ValueError(f"{name} must be at least {minimum} seconds")
    return value
