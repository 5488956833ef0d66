"""Median and 95th percentile of repeated measurements."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation, as numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: Iterable[float | None], digits: int = 1) -> dict:
    """{"p50", "p95", "n"} of the values that were measured (None: not reached)."""
    kept = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not kept:
        return {"p50": None, "p95": None, "n": 0}
    return {
        "p50": round(percentile(kept, 50), digits),
        "p95": round(percentile(kept, 95), digits),
        "n": len(kept),
    }


def ratio(project: dict, raw: dict) -> float | None:
    """Project median over raw-engine median."""
    if not project.get("p50") or not raw.get("p50"):
        return None
    return round(project["p50"] / raw["p50"], 3)
