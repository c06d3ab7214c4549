"""The bench's arithmetic, free of Django and processes: percentiles and the flat-backlog rule."""

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0 to 100) of ``values``, nearest rank: a value that was measured.

    Nearest rank never interpolates between two samples, so P99 of 100 samples is the 99th
    smallest and P100 the maximum.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"q must be in (0, 100]: {q}")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def percentiles(latencies_ms: Sequence[float]) -> dict:
    """``count``, P50, P99 and max in ms (one decimal), or just ``count`` if there are none."""
    if not latencies_ms:
        return {"count": 0}
    return {
        "count": len(latencies_ms),
        "p50_ms": round(percentile(latencies_ms, 50), 1),
        "p99_ms": round(percentile(latencies_ms, 99), 1),
        "max_ms": round(max(latencies_ms), 1),
    }


def slope(samples: Sequence[tuple[float, float]]) -> float:
    """Least-squares growth per second of (seconds, backlog) samples (0 with fewer than 3)."""
    if len(samples) < 3 or len({t for t, _ in samples}) < 2:
        return 0.0
    return statistics.linear_regression([t for t, _ in samples], [b for _, b in samples]).slope


def flat(
    samples: Sequence[tuple[float, float]],
    *,
    rate: float,
    sagas: Sequence[tuple[float, float]] = (),
) -> tuple[bool, float]:
    """Whether the backlog stayed flat at ``rate`` orders/s; and its slope over the second half.

    The backlog counts work items (unrelayed events, open deliveries, projector lag in
    events, queued webhooks and e-mails). Flat means: over the second half of the window it
    grew by less than one second's worth of orders' work (at least 50 items: batches make it
    jitter) — i.e. the pipeline keeps up — and at the end it holds less than two seconds'
    worth of orders (x 20 items each, the order of magnitude of one order's events and
    messages) plus 100: it is not carrying a standing queue from the start either.

    ``sagas`` samples the orders whose saga has not finished (placed, reserved, paid). An
    order waiting for the saga lane is one item of the backlog, not twenty, so a lane that
    falls behind hides in the item count: the same two rules hold for these samples in
    orders — at most one second's worth of growth over the second half (at least 10) and
    at most two seconds' worth (plus 10) at the end.
    """
    if len(samples) < 4:
        return False, 0.0
    second_half = samples[len(samples) // 2 :]
    grown = slope(second_half)
    span = second_half[-1][0] - second_half[0][0]
    allowed_growth = max(50.0, rate * 20)
    end = samples[-1][1]
    ok = grown * span <= allowed_growth and end <= 2 * rate * 20 + 100
    if ok and len(sagas) >= 4:
        saga_half = sagas[len(sagas) // 2 :]
        saga_span = saga_half[-1][0] - saga_half[0][0]
        ok = slope(saga_half) * saga_span <= max(10.0, rate) and sagas[-1][1] <= 2 * rate + 10
    return ok, grown
