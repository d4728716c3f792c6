"""The natural cycles of a frequency: the season that scales MASE and the periods models may use.

Example:
    >>> infer_season("h"), natural_seasons(24, "h")
    (24, [24, 168])
"""

from __future__ import annotations

__all__ = ["infer_season", "natural_seasons"]


def infer_season(freq: str) -> int:
    """Steps per natural cycle of a pandas frequency alias.

    Sub-daily steps give steps per day (30min -> 48, hourly -> 24), daily -> 7, weekly -> 52,
    monthly -> 12, quarterly -> 4; anything else (yearly, irregular business calendars) -> 1.

    Example:
        >>> infer_season("h"), infer_season("D"), infer_season("MS")
        (24, 7, 12)
    """
    import pandas as pd

    offset = pd.tseries.frequencies.to_offset(freq)
    name = type(offset).__name__
    if name in {"MonthBegin", "MonthEnd", "BusinessMonthBegin", "BusinessMonthEnd"} and offset.n == 1:
        return 12
    if name in {"QuarterBegin", "QuarterEnd", "BQuarterBegin", "BQuarterEnd"} and offset.n == 1:
        return 4
    if name == "Week" and offset.n == 1:
        return 52
    if name == "BusinessDay" and offset.n == 1:
        return 5
    try:
        nanos = int(offset.nanos)
    except (AttributeError, ValueError):  # calendar offsets (yearly...) have no fixed length
        return 1
    day = 86_400 * 10**9
    if nanos == day:
        return 7
    if nanos < day and day % nanos == 0:
        steps = day // nanos
        return int(steps) if steps <= 1440 else 60  # per-second data: a minute's cycle
    return 1


def natural_seasons(season: int, freq: str | None) -> list[int]:
    """Every natural cycle of a frequency, the series' ``season`` first among them, ascending.

    Sub-daily data has the day and the week (30min: 48 and 336; hourly: 24 and 168), daily data
    the week and the year (7 and 365); other frequencies their one season (weekly 52, monthly 12,
    quarterly 4). Periods of 1 are left out.

    Example:
        >>> natural_seasons(24, "h"), natural_seasons(48, "30min"), natural_seasons(7, "D"), natural_seasons(12, "MS")
        ([24, 168], [48, 336], [7, 365], [12])
    """
    candidates = {season}
    if freq:
        import pandas as pd

        try:
            nanos = int(pd.tseries.frequencies.to_offset(freq).nanos)
        except (AttributeError, ValueError):  # calendar offsets (weekly, monthly...) have no fixed length
            nanos = 0
        day = 86_400 * 10**9
        if 0 < nanos < day and day % nanos == 0:
            per_day = day // nanos
            if per_day <= 1440:  # up to minutes: a day and a week; per-second data keeps its own cycle
                candidates |= {int(per_day), int(7 * per_day)}
        elif nanos == day:
            candidates |= {7, 365}
    return sorted(p for p in candidates if p > 1)
