"""Tests of qlearn_lite.stats: the percentile bootstrap over runs."""

from __future__ import annotations

import numpy as np
import pytest

from qlearn_lite.stats import bootstrap_ci, reach_ci


def test_two_runs_have_three_resample_means():
    """Runs [0, 1]: resampled means are 0, 1/2, 1 w.p. 1/4, 1/2, 1/4."""
    interval = bootstrap_ci([0.0, 1.0], confidence=0.4, resamples=20_000)
    assert interval.mean == 0.5 and interval.runs == 2
    # The 30 % and 70 % quantiles both fall on the middle mean, 1/2.
    assert interval.low == 0.5 and interval.high == 0.5
    wide = bootstrap_ci([0.0, 1.0], confidence=0.9, resamples=20_000)
    assert (wide.low, wide.high) == (0.0, 1.0)


def test_interval_covers_the_mean_and_shrinks_with_more_runs():
    """Normal runs: the interval holds the sample mean; 4x the runs, ~half width."""
    rng = np.random.default_rng(0)
    few, many = rng.normal(size=25), rng.normal(size=400)
    narrow, wide = bootstrap_ci(many), bootstrap_ci(few)
    for interval in (narrow, wide):
        assert interval.low < interval.mean < interval.high
    ratio = (wide.high - wide.low) / (narrow.high - narrow.low)
    assert 2.5 < ratio < 6  # sqrt(400 / 25) = 4, up to sampling noise
    # 95 % of a normal mean's spread: about 2 * 1.96 / sqrt(400) = 0.196.
    assert narrow.high - narrow.low == pytest.approx(0.196, rel=0.2)


def test_curves_get_one_interval_per_point_and_seed_repeats():
    """[runs, points] input gives arrays; the same seed gives the same numbers."""
    curves = np.array([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0], [1.0, 2.0, 3.0]])
    interval = bootstrap_ci(curves, seed=3)
    assert interval.mean.tolist() == [1.0, 2.0, 3.0]
    assert np.allclose(interval.high - interval.low, interval.high[0] - interval.low[0])
    again = bootstrap_ci(curves, seed=3)
    assert np.array_equal(interval.low, again.low)
    assert bootstrap_ci([1.0, 2.0, 4.0]).format(".1f").startswith("2.3 [")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"values": [1.0]}, ValueError, "at least 2 runs"),
        ({"values": 3.0}, ValueError, "shape"),
        ({"values": np.ones((2, 2, 2))}, ValueError, "shape"),
        ({"values": [1.0, np.nan]}, ValueError, "finite"),
        ({"values": [1.0, 2.0], "confidence": 1.0}, ValueError, "confidence"),
        ({"values": [1.0, 2.0], "confidence": "high"}, TypeError, "confidence"),
        ({"values": [1.0, 2.0], "resamples": 0}, ValueError, "resamples"),
        ({"values": [1.0, 2.0], "seed": -1}, ValueError, "seed"),
    ],
)
def test_bad_input_is_named(kwargs, error, match):
    """Each bad argument raises its own clear error."""
    with pytest.raises(error, match=match):
        bootstrap_ci(**kwargs)


def test_reach_ci_counts_a_miss_as_the_budget():
    """A miss (None) is counted as the budget, then bootstrapped as usual."""
    interval = reach_ci([20_000, None, 30_000], budget=60_000)
    assert interval.mean == pytest.approx(110_000 / 3) and interval.runs == 3
    same = bootstrap_ci([20_000.0, 60_000.0, 30_000.0])
    assert (interval.low, interval.high) == (same.low, same.high)
    assert reach_ci([None, None], budget=5.0).format(".1f") == "5.0 [5.0, 5.0]"


def test_reach_ci_takes_one_budget_per_run():
    """Each miss counts as its own run's budget; a reached value may exceed
    another run's budget but not its own."""
    interval = reach_ci([None, 60_010, None], budget=[60_064, 60_064, 60_128])
    assert interval.mean == pytest.approx((60_064 + 60_010 + 60_128) / 3)
    same = bootstrap_ci([60_064.0, 60_010.0, 60_128.0])
    assert (interval.low, interval.high) == (same.low, same.high)
    with pytest.raises(
        ValueError, match=r"reached\[0\] must lie in \[0, budget=60000\]"
    ):
        reach_ci([60_010, None], budget=[60_000, 60_064])


@pytest.mark.parametrize(
    ("reached", "budget", "error", "match"),
    [
        ([1.0, 70.0], 60.0, ValueError, r"reached\[1\] must lie in \[0, budget=60\]"),
        ([1.0, 2.0], [60.0], ValueError, r"one per run \(2\), got 1"),
        ([1.0, 2.0], [60.0, 0.0], ValueError, r"budget\[1\] must be > 0"),
        ([1.0, 2.0], [60.0, None], TypeError, r"budget\[1\] must be a number"),
        ([1.0, -1.0], 60.0, ValueError, r"reached\[1\]"),
        ([1.0, True], 60.0, TypeError, r"reached\[1\] must be a number or None"),
        ([1.0, "3"], 60.0, TypeError, r"reached\[1\]"),
        ("12", 60.0, TypeError, "sequence"),
        ([1.0, 2.0], 0.0, ValueError, "budget must be > 0"),
        ([1.0, 2.0], float("inf"), ValueError, "budget must be finite"),
        ([None], 60.0, ValueError, "reached must hold at least 2 runs"),
    ],
)
def test_reach_ci_bad_input_is_named(reached, budget, error, match):
    with pytest.raises(error, match=match):
        reach_ci(reached, budget)
