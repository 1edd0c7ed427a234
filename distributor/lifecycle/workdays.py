"""Working days for the staged-rollout clocks: weekends and holidays do not count.

The EGI procedure counts its budgets in working days ("accept within one working day", "a grace
period of up to five working days").  A working day here is a whole calendar day (UTC) that is
neither a Saturday, a Sunday, a public holiday of the configured country (the ``holidays``
library, ``[calendar] country``/``subdivision``) nor one of the configured ``holidays``; time is
counted on working days only, so a step started on Friday 16:00 has used 8 hours by Monday 00:00.
"""

from __future__ import annotations

import datetime as _dt
from functools import lru_cache

from pps.errors import BadInput
from pps.settings import CalendarSettings

DAY = 86400.0
HOUR = 3600.0


class WorkCalendar:
    """Which days count, and how much working time lies between two moments."""

    def __init__(self, settings: CalendarSettings | None = None) -> None:
        self.settings = settings or CalendarSettings()
        self._extra = frozenset(self.settings.holidays)
        self._country = None
        if self.settings.country:
            import holidays

            try:
                self._country = holidays.country_holidays(
                    self.settings.country, subdiv=self.settings.subdivision or None
                )
            except NotImplementedError:
                where = self.settings.country + (
                    f"-{self.settings.subdivision}" if self.settings.subdivision else ""
                )
                raise BadInput(f"[calendar]: no holiday calendar for {where!r}") from None
        self.is_working_day = lru_cache(maxsize=4096)(self._is_working_day)

    def _is_working_day(self, day: _dt.date) -> bool:
        if day.weekday() >= 5 or day in self._extra:
            return False
        return self._country is None or day not in self._country

    def holiday_name(self, day: _dt.date) -> str:
        """Why *day* is not a working day ("" when it is one)."""
        if day.weekday() >= 5:
            return "weekend"
        if day in self._extra:
            return "configured holiday"
        if self._country is not None and day in self._country:
            return str(self._country.get(day))
        return ""

    def working_seconds(self, start: _dt.datetime, end: _dt.datetime) -> float:
        """Seconds between *start* and *end* that fall on working days (0 if end <= start)."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return 0.0
        total = 0.0
        day = start.date()
        while day <= end.date():
            if self.is_working_day(day):
                begin = _dt.datetime.combine(day, _dt.time(), _dt.timezone.utc)
                lo, hi = max(start, begin), min(end, begin + _dt.timedelta(days=1))
                total += max(0.0, (hi - lo).total_seconds())
            day += _dt.timedelta(days=1)
        return total

    def deadline(self, start: _dt.datetime, seconds: float) -> _dt.datetime:
        """The moment *seconds* of working time after *start*."""
        moment = _utc(start)
        left = seconds
        for _ in range(100_000):  # bounded: ~270 years of days off would be a broken calendar
            day = moment.date()
            end_of_day = _dt.datetime.combine(
                day + _dt.timedelta(days=1), _dt.time(), _dt.timezone.utc
            )
            if self.is_working_day(day):
                room = (end_of_day - moment).total_seconds()
                if left <= room:
                    return moment + _dt.timedelta(seconds=left)
                left -= room
            moment = end_of_day
        raise BadInput("[calendar]: no working day found: check the holidays")


def _utc(moment: _dt.datetime) -> _dt.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc)
