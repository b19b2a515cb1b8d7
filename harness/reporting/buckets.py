"""Requests aggregated into time buckets: a count, the failures and a latency histogram
each. A run of any length charts from a few hundred buckets, in bounded memory."""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from pathlib import Path

from harness.results.records import parse_numbers

MAX_BUCKETS = 600
MIN_WIDTH_S = 0.25
# Latency histogram bounds in ms, about 10% apart from 1 ms to 60 s.
LATENCY_BOUNDS_MS: tuple[float, ...] = tuple(round(1.1**i, 3) for i in range(116))


@dataclass(frozen=True)
class Point:
    """One bucket, ready to chart. Times are seconds from the series' origin."""

    t: float
    requests_per_s: float
    error_rate: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class Series:
    origin: float
    width_s: float
    points: tuple[Point, ...]
    total: int
    failed: int


def bucket_width(span_s: float) -> float:
    return max(MIN_WIDTH_S, span_s / MAX_BUCKETS)


def percentile(hist: list[int], q: float) -> float | None:
    total = sum(hist)
    if total == 0:
        return None
    wanted = q * total
    seen = 0
    for i, n in enumerate(hist):
        seen += n
        if seen >= wanted:
            return LATENCY_BOUNDS_MS[min(i, len(LATENCY_BOUNDS_MS) - 1)]
    return LATENCY_BOUNDS_MS[-1]


def span_of(path: Path) -> tuple[float, float] | None:
    """First and last request start times, from the first and last complete lines."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    with path.open("rb") as fh:
        first = parse_numbers(fh.readline().decode(errors="replace"))
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - 4096))
        tail = fh.read().decode(errors="replace").split("\n")
    complete = [line + "\n" for line in tail[:-1]]
    last = next((n for n in map(parse_numbers, reversed(complete)) if n is not None), None)
    if first is None or last is None:
        return None
    return min(first[0], last[0]), max(first[0], last[0])


def aggregate(path: Path, origin: float, end: float) -> Series:
    """Stream the records file once into buckets between `origin` and `end`."""
    width = bucket_width(max(end - origin, 0.0))
    n = max(1, int((end - origin) / width) + 1)
    counts = [0] * n
    failures = [0] * n
    hists = [[0] * (len(LATENCY_BOUNDS_MS) + 1) for _ in range(n)]
    total = failed = 0
    bounds = LATENCY_BOUNDS_MS
    if path.exists():
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                numbers = parse_numbers(line)
                if numbers is None:
                    continue
                ts, _status, latency_ms, is_failed = numbers
                total += 1
                failed += is_failed
                i = int((ts - origin) / width)
                if 0 <= i < n:
                    counts[i] += 1
                    failures[i] += is_failed
                    hists[i][bisect.bisect_left(bounds, latency_ms)] += 1
    points = tuple(
        Point(
            t=round(i * width, 3),
            requests_per_s=counts[i] / width,
            error_rate=failures[i] / counts[i] if counts[i] else None,
            p95_ms=percentile(hists[i], 0.95),
        )
        for i in range(n)
    )
    return Series(origin, width, points, total, failed)
