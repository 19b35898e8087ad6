"""Small display helpers shared by every app's pages (`{% load modelyard_ui %}`)."""

import json
import math

from django import template

register = template.Library()

STATUS_BADGES = {
    "queued": "badge",
    "running": "badge badge-info",
    "succeeded": "badge badge-ok",
    "failed": "badge badge-bad",
    "cancelled": "badge badge-muted",
    # A/B tests
    "draft": "badge",
    "stopped": "badge badge-muted",
    "decided": "badge badge-ok",
    "rolled_back": "badge badge-warn",
}
STAGE_BADGES = {
    "candidate": "badge",
    "staging": "badge badge-info",
    "production": "badge badge-ok",
    "archived": "badge badge-muted",
}
TRIAL_BADGES = {
    "complete": "badge badge-ok",
    "pruned": "badge badge-muted",
    "failed": "badge badge-bad",
}


@register.filter
def status_badge(status: str) -> str:
    return STATUS_BADGES.get(status, "badge")


@register.filter
def stage_badge(stage: str) -> str:
    return STAGE_BADGES.get(stage, "badge")


@register.filter
def trial_badge(state: str) -> str:
    return TRIAL_BADGES.get(state, "badge")


@register.filter
def duration(seconds) -> str:
    """12 s, 3 min 05 s, 1 h 02 min; an em dash when unknown."""
    if seconds is None:
        return "—"
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(seconds):
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    total = int(round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def num(value, digits: int = 4) -> str:
    """A metric or parameter for a table: floats to `digits` decimals (or significant digits
    when tiny), ints and strings as they are, an em dash for missing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and abs(value) < 10 ** (-int(digits) + 1):
            return f"{value:.{int(digits) - 1}e}"
        return f"{value:.{int(digits)}f}"
    return str(value)


@register.filter
def signed(value, digits: int = 4) -> str:
    if value is None:
        return "—"
    return f"{value:+.{int(digits)}f}"


@register.filter
def compact_params(params) -> str:
    if not params:
        return "—"
    parts = []
    for key, value in params.items():
        if isinstance(value, float):
            value = f"{value:.3g}"
        parts.append(f"{key}={value}")
    return ", ".join(parts)


@register.filter
def compact_json(value) -> str:
    if value in (None, {}, []):
        return ""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


@register.filter
def percent(share, digits: int = 0) -> str:
    if share is None:
        return "—"
    return f"{share * 100:.{int(digits)}f}%"


@register.filter
def get_item(mapping, key):
    if not mapping:
        return None
    return mapping.get(key)


@register.filter
def points(share, digits: int = 1) -> str:
    """A difference of two shares in percentage points, signed: +2.1 pts."""
    if share is None:
        return "—"
    return f"{share * 100:+.{int(digits)}f} pts"


@register.filter
def loss_points(share) -> str:
    """An expected loss in accuracy points, unsigned: 0.21 pts."""
    if share is None:
        return "—"
    return f"{share * 100:.2f} pts"


@register.filter
def money(value) -> str:
    """An amount: cents for amounts of a unit or more, else three significant digits (a
    prediction costs millionths)."""
    if value is None or value == "":
        return "—"
    amount = float(value)
    if amount == 0:
        return "0"
    if abs(amount) >= 1:
        return f"{amount:,.2f}"
    return f"{amount:.3g}" if abs(amount) >= 1e-4 else f"{amount:.2e}"


@register.filter
def filesize(value) -> str:
    """Bytes in decimal units (kB, MB, GB: what storage is priced in)."""
    size = float(value or 0)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


@register.filter
def cpu_cost(seconds, price_per_hour):
    """CPU seconds at a price per CPU-hour (a trial's share of its job's cost)."""
    if seconds is None or price_per_hour is None:
        return None
    return float(seconds) / 3600 * float(price_per_hour)
