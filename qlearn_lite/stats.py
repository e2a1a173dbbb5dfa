"""Intervals over runs: one bootstrap, used by every notebook that compares seeds.

A result over a few seeds is a mean and an interval, computed the same way
everywhere: :func:`bootstrap_ci`, the percentile bootstrap of the mean
(Efron & Tibshirani 1993, chapter 13). It resamples the runs with replacement,
so with ``n`` runs there are only ``C(2n - 1, n)`` distinct resamples (10 for
3 runs, 126 for 5): :attr:`Interval.runs` travels with the interval so that a
reader sees how few runs stand behind it. rliable (Agarwal et al. 2021) offers
stratified versions of the same idea for many tasks at once.

A time to a threshold is the one result that a run can miss: :func:`reach_ci`
counts a miss as the budget the run had (one for all runs, or each run's own),
and says so, before the bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any, NamedTuple

import numpy as np

from qlearn_lite.utils import check_finite, check_int, check_number, check_seed

__all__ = ["Interval", "bootstrap_ci", "reach_ci"]


class Interval(NamedTuple):
    """A mean over runs and its bootstrap confidence interval.

    Scalars for 1-D input; float64 arrays [points] for input [runs, points].
    """

    mean: Any
    """The mean over runs."""
    low: Any
    """Lower end of the interval."""
    high: Any
    """Upper end of the interval."""
    runs: int
    """How many runs the interval rests on."""
    confidence: float
    """The coverage asked for, e.g. 0.95."""

    def format(self, spec: str = ".3f") -> str:
        """``"0.740 [0.731, 0.748]"`` for a scalar interval."""
        return f"{self.mean:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"


def bootstrap_ci(
    values: Any,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap confidence interval of the mean over runs.

    Args:
        values: float [runs] (one number per run) or float [runs, points]
            (a curve per run; one interval per point). At least 2 runs.
        confidence: coverage in (0, 1), e.g. 0.95 for a 95 % interval.
        resamples: how many bootstrap resamples of the runs to draw.
        seed: seeds the resampling, so an interval prints the same every run.

    Returns:
        :class:`Interval` with the mean, the ``(1 - confidence) / 2`` and
        ``(1 + confidence) / 2`` quantiles of the resampled means, and the
        number of runs.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.ndim not in (1, 2):
        raise ValueError(
            f"values must be [runs] or [runs, points], got shape {data.shape}"
        )
    if data.shape[0] < 2:
        raise ValueError(f"values must hold at least 2 runs, got {data.shape[0]}")
    if not np.all(np.isfinite(data)):
        raise ValueError("values must be finite, got NaN or inf")
    confidence = check_number(
        "confidence", confidence, 0, 1, low_open=True, high_open=True
    )
    resamples = check_int("resamples", resamples)
    rng = np.random.default_rng(check_seed(seed))
    runs = data.shape[0]
    picks = rng.integers(0, runs, size=(resamples, runs))
    means = data[picks].mean(axis=1)  # [resamples] or [resamples, points]
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail], axis=0)
    mean = data.mean(axis=0)
    if data.ndim == 1:
        mean, low, high = float(mean), float(low), float(high)
    return Interval(mean, low, high, runs, confidence)


def reach_ci(
    reached: Sequence[float | None],
    budget: float | Sequence[float],
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Mean steps (or seconds) to a threshold over runs, a miss counted as the budget.

    A run that missed the threshold (``None``) would have needed more than its
    budget, so it is counted as the budget: where any run missed, the mean
    and both ends of the interval are lower bounds. The interval is
    :func:`bootstrap_ci`'s over the counted values.

    Args:
        reached: one entry per run: the steps (or seconds) at which the run
            first reached the threshold, or None where it never did. At least
            2 runs.
        budget: what every run was given, in the same unit, or one number per
            run: what each run actually took (a learner that works in whole
            chunks can end a few steps past the budget it was asked for). No
            entry of ``reached`` above its run's budget.
        confidence, resamples, seed: as for :func:`bootstrap_ci`.

    >>> reach_ci([20_000, None, 30_000], budget=60_000).format(",.0f")[:6]
    '36,667'
    >>> reach_ci([20_000, None], budget=[60_000, 60_064]).mean
    40032.0
    """
    if isinstance(reached, (str, bytes)) or not isinstance(reached, Sequence):
        raise TypeError(
            f"reached must be a sequence of numbers or None, one per run, "
            f"got {type(reached).__name__}"
        )
    if len(reached) < 2:
        raise ValueError(
            f"reached must hold at least 2 runs (for an interval), got {len(reached)}"
        )
    per_run = isinstance(budget, Sequence) and not isinstance(budget, (str, bytes))
    if per_run and len(budget) != len(reached):
        raise ValueError(
            f"budget must be one number, or one per run ({len(reached)}), "
            f"got {len(budget)}"
        )
    named = (
        [(f"budget[{run}]", value) for run, value in enumerate(budget)]
        if per_run
        else [("budget", budget)]
    )
    budgets = []
    for name, value in named:
        limit = check_finite(name, value)
        if limit <= 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
        budgets.append(limit)
    if not per_run:
        budgets *= len(reached)
    counted = []
    for run, (value, limit) in enumerate(zip(reached, budgets, strict=True)):
        if value is None:
            counted.append(limit)
            continue
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"reached[{run}] must be a number or None, got {value!r}")
        if not 0 <= value <= limit:
            raise ValueError(
                f"reached[{run}] must lie in [0, budget={limit:g}], got {value!r}"
            )
        counted.append(float(value))
    return bootstrap_ci(counted, confidence, resamples, seed)
