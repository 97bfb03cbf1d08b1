"""``now``: the current date and time, optionally in a time zone.

>>> from augment.tools.now import Now
>>> "UTC" in Now().call({})
True
"""

from __future__ import annotations

from datetime import datetime, timezone as _utc_zone
from typing import Optional

from augment.errors import ToolError
from augment.tools.base import Tool

__all__ = ["Now"]


def _zone(name: str):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name.strip().upper() in ("UTC", "Z", "GMT"):
        return _utc_zone.utc
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(
            f"now: unknown time zone {name!r}; use an IANA name such as 'UTC', 'Europe/Paris' or 'America/New_York'"
        ) from None


class Now(Tool):
    """Get the current date and time (ISO 8601 with weekday), in UTC or a given time zone.

    >>> Now(default_timezone="Europe/Paris").call({}).count("Europe/Paris")
    1
    """

    name = "now"
    permissions = ("read_only",)

    def __init__(self, *, default_timezone: str = "UTC", name: str | None = None):
        _zone(default_timezone)  # fail early on a bad default
        self.default_timezone = default_timezone
        super().__init__(name=name, timeout=5.0)

    def forward(self, timezone: Optional[str] = None) -> str:
        """Args:
            timezone: an IANA time zone such as 'Europe/Paris'; leave empty for the default (UTC)
        """
        name = timezone or self.default_timezone
        moment = datetime.now(_zone(name)).replace(microsecond=0)
        return f"{moment.isoformat()} ({moment:%A}, {moment:%d %B %Y}, {moment:%H:%M:%S} {name})"
