"""Expected renderings of API values, computed the way the pages compute them (en-US, UTC)."""

from datetime import datetime


def parse_api_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def js_iso(value: str) -> str:
    """An API time as JavaScript's toISOString() writes it: milliseconds and Z."""
    parsed = parse_api_time(value)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def exact_time(value: str) -> str:
    """formatExact() in en-US and UTC: 'Nov 27, 2026, 3:05:55 AM UTC'."""
    parsed = parse_api_time(value)
    hour = parsed.hour % 12 or 12
    return f"{parsed:%b} {parsed.day}, {parsed.year}, {hour}:{parsed:%M:%S} {parsed:%p} UTC"


def plain_spaces(text: str | None) -> str:
    """ICU puts a narrow no-break space before AM/PM; compare with plain spaces."""
    return (text or "").replace("\u202f", " ")
