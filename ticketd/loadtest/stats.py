"""What a run measures: counters, bounded samples for percentiles, and per-second series."""

from __future__ import annotations

import math
import random
from array import array
from collections import Counter


class Samples:
    """At most ``cap`` values, kept by reservoir sampling (every value equally likely to be
    kept), so a run of millions of push deliveries stays a few MB; exact below the cap."""

    __slots__ = ("values", "count", "cap", "_rng", "_sorted")

    def __init__(self, cap: int = 200_000, seed: int | None = None):
        self.values = array("d")
        self.count = 0
        self.cap = cap
        self._rng = random.Random(seed)
        self._sorted: list[float] | None = None

    def add(self, value: float) -> None:
        self.count += 1
        self._sorted = None
        if len(self.values) < self.cap:
            self.values.append(value)
        else:
            j = self._rng.randrange(self.count)
            if j < self.cap:
                self.values[j] = value

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile (0 < p <= 100); None without samples."""
        if not self.values:
            return None
        if self._sorted is None:
            self._sorted = sorted(self.values)
        data = self._sorted
        rank = max(1, math.ceil(p / 100 * len(data)))
        return data[min(rank, len(data)) - 1]

    def max(self) -> float | None:
        return max(self.values) if self.values else None

    def summary(self, scale: float = 1.0, digits: int = 3) -> dict:
        out = {}
        for name, p in (("p50", 50), ("p99", 99)):
            value = self.percentile(p)
            out[name] = None if value is None else round(value * scale, digits)
        top = self.max()
        out["max"] = None if top is None else round(top * scale, digits)
        out["samples"] = self.count
        return out


class Timeline:
    """Per-second series from the start of the arrival: counters (``bump``), gauges
    (``gauge``, last value wins) and per-second push latency samples."""

    def __init__(self):
        self.t0: float | None = None
        self.counters: dict[str, list[int]] = {}
        self.gauges: dict[str, list[float | None]] = {}
        self.latency: list[Samples] = []

    def second(self, t: float) -> int:
        if self.t0 is None:
            return 0
        return max(0, int(t - self.t0))

    def _grow(self, series: list, index: int, fill) -> None:
        if len(series) <= index:
            series.extend([fill] * (index + 1 - len(series)))

    def bump(self, name: str, t: float, n: int = 1) -> None:
        series = self.counters.setdefault(name, [])
        index = self.second(t)
        self._grow(series, index, 0)
        series[index] += n

    def gauge(self, name: str, t: float, value: float | None) -> None:
        series = self.gauges.setdefault(name, [])
        index = self.second(t)
        self._grow(series, index, None)
        series[index] = value

    def push_latency(self, t: float, seconds: float) -> None:
        index = self.second(t)
        self._grow(self.latency, index, None)
        samples = self.latency[index]
        if samples is None:
            samples = self.latency[index] = Samples(cap=2000)
        samples.add(seconds)

    def length(self) -> int:
        lengths = [len(s) for s in self.counters.values()] + [len(s) for s in self.gauges.values()]
        return max([len(self.latency), *lengths], default=0)

    def series(self, name: str) -> list[int]:
        values = list(self.counters.get(name, []))
        return values + [0] * (self.length() - len(values))

    def gauge_series(self, name: str) -> list[float | None]:
        values = list(self.gauges.get(name, []))
        return values + [None] * (self.length() - len(values))

    def latency_series(self, p: float) -> list[float | None]:
        out = []
        for samples in self.latency + [None] * (self.length() - len(self.latency)):
            out.append(None if samples is None else samples.percentile(p))
        return out

    def recent_rate(self, name: str, now: float, seconds: int = 5) -> float:
        """Per-second rate over the last ``seconds`` whole seconds (the current, partial one
        excluded unless the run is younger than that)."""
        series = self.counters.get(name)
        if not series or self.t0 is None:
            return 0.0
        current = self.second(now)
        end = current if current > 0 else 1
        start = max(0, end - seconds)
        window = series[start:end]
        return sum(window) / max(1, end - start)

    def peak(self, name: str) -> int:
        return max(self.counters.get(name, []), default=0)

    def gauge_peak(self, name: str) -> float | None:
        return max((v for v in self.gauges.get(name, []) if v is not None), default=None)


class ErrorCounts(Counter):
    """Failed requests by the contract's error code (or ``http_<status>``,
    ``connection_error``, ``timeout`` when there is no code)."""
