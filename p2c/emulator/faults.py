"""Injected faults: `--faults 429=0.10,503=0.05,drop=0.02,latency_ms=20,token_lifetime=30`.

Shares are per API answer. A 429 or 503 is decided before the request does anything (the real service
refuses before it writes). A `drop` closes the socket without an answer; for writes, half of the drops happen
AFTER the write was applied, so a client must treat a dropped write as "maybe done" (updates by id are
idempotent). `latency_ms` is added to every API answer; `token_lifetime` is the seconds an issued token
lives (default 3600, "about an hour", reference §1.1). `--seed` makes the draws reproducible."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from p2c.errors import UsageError

FAULT_FIELDS = ("429", "503", "drop", "latency_ms", "token_lifetime")


@dataclass(frozen=True)
class Faults:
    throttle: float = 0.0  # share of 429 answers
    unavailable: float = 0.0  # share of 503 answers
    drop: float = 0.0  # share of dropped connections
    latency_ms: float = 0.0
    token_lifetime: int = 3600


def parse_faults(spec: str | None) -> Faults:
    if not spec:
        return Faults()
    values: dict[str, float] = {}
    for item in spec.split(","):
        name, equals, raw = item.strip().partition("=")
        if not equals or name not in FAULT_FIELDS:
            raise UsageError(
                f"--faults: {item.strip()!r} is not NAME=VALUE with NAME one of {', '.join(FAULT_FIELDS)}",
                hint="e.g. --faults 429=0.10,503=0.05,drop=0.02,latency_ms=20,token_lifetime=30",
            )
        try:
            value = float(raw)
        except ValueError:
            raise UsageError(f"--faults: {name}={raw!r} is not a number") from None
        if value < 0 or (name in ("429", "503", "drop") and value > 1):
            raise UsageError(f"--faults: {name}={raw} is out of range (shares are 0..1, times are >= 0)")
        if name == "token_lifetime" and value < 1:
            raise UsageError("--faults: token_lifetime must be at least 1 second")
        values[name] = value
    if values.get("429", 0) + values.get("503", 0) + values.get("drop", 0) > 1:
        raise UsageError("--faults: the shares of 429, 503 and drop add up to more than 1")
    return Faults(
        throttle=values.get("429", 0.0),
        unavailable=values.get("503", 0.0),
        drop=values.get("drop", 0.0),
        latency_ms=values.get("latency_ms", 0.0),
        token_lifetime=int(values.get("token_lifetime", 3600)),
    )


class FaultInjector:
    """Draws one fate per API request from a seeded generator (thread-safe)."""

    def __init__(self, faults: Faults, seed: int | None = None) -> None:
        self.faults = faults
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> str:
        """'429', '503', 'drop-before', 'drop-after' or 'ok'."""
        f = self.faults
        with self._lock:
            roll = self._random.random()
            half = self._random.random() < 0.5
        if roll < f.throttle:
            return "429"
        if roll < f.throttle + f.unavailable:
            return "503"
        if roll < f.throttle + f.unavailable + f.drop:
            return "drop-after" if half else "drop-before"
        return "ok"
