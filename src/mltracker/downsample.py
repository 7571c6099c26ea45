"""Fewer points for a chart, keeping what the eye must see: each bucket's minimum and maximum.

A series longer than its budget is cut into ``budget // 2`` buckets of consecutive points;
each bucket keeps its lowest and its highest point, so a spike survives whatever the zoom.
A bucket that holds a NaN keeps one NaN as well (a chart shows the gap), and the series'
first and last points are always kept. Values that are not numbers (strings, JSON) are
kept only as a bucket's first point. Points keep their logged order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mltracker.entities import Metric


def min_max_buckets(metrics: Sequence[Metric], budget: int) -> list[Metric]:
    """At most about ``budget`` points of each series (name and phase) of ``metrics``."""
    if budget < 2:
        budget = 2
    by_series: dict[tuple[str, str | None], list[int]] = {}
    for index, metric in enumerate(metrics):
        by_series.setdefault((metric.name, metric.phase), []).append(index)
    kept: list[int] = []
    for indexes in by_series.values():
        if len(indexes) <= budget:
            kept.extend(indexes)
        else:
            kept.extend(_series_buckets(metrics, indexes, budget))
    kept.sort()
    return [metrics[index] for index in kept]


def _series_buckets(metrics: Sequence[Metric], indexes: list[int], budget: int) -> set[int]:
    count = len(indexes)
    buckets = max(1, budget // 2)
    kept = {indexes[0], indexes[-1]}
    for bucket in range(buckets):
        start = bucket * count // buckets
        stop = (bucket + 1) * count // buckets
        low = high = nan = None
        low_value = math.inf
        high_value = -math.inf
        for position in range(start, stop):
            index: int = indexes[position]
            value = metrics[index].value
            if type(value) is bool or not isinstance(value, int | float):
                if low is None and high is None:
                    low = high = index
                continue
            if value != value:
                if nan is None:
                    nan = index
                continue
            if low is None or value < low_value:
                low, low_value = index, value
            if high is None or value > high_value:
                high, high_value = index, value
        for found in (low, high, nan):
            if found is not None:
                kept.add(found)
    return kept
