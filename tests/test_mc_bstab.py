"""Mc by b-value stability as Cao & Gao (2002) / Woessner & Wiemer (2005) define it and
SeismoStats (ETH/SED) implements it (issue 14).

The expected values are computed here by hand from the definition, step by step; the
reference values of SeismoStats 1.0.1 ``estimate_mc_b_stability(m, delta_m=0.1)`` (run in a
separate environment, it is AGPL and not a dependency) are quoted next to them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from labquake.errors import InsufficientDataError
from labquake.analysis.seismicity import b_value, mc_bstab

#: 20 binned magnitudes; SeismoStats: b(0.0) = 0.7135590853566826, |b_avg - b|/σ = 0.47621419761940764
#: (Mc = 0.0 passes; SeismoStats then returns None because ``if best_mc`` is false for 0.0)
CAT20 = [0.0, 0.0, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3, 0.4, 0.5, 0.5, 0.5, 0.9, 1.1, 1.2, 1.2, 1.5, 1.6]
#: 40 binned magnitudes; SeismoStats tests -0.5 ... 0.1 and returns Mc = 0.1 with
#: |b_avg - b|/σ = 2.0012, 2.1965, 1.6986, 1.3643, 2.2330, 1.1981, 0.49350
CAT40 = [-0.5, -0.5, -0.5, -0.4, -0.3, -0.3, -0.3, -0.2, -0.2, -0.2, -0.2, -0.2, -0.2, -0.1, 0.0, 0.0, 0.1, 0.1, 0.1, 0.1,
         0.1, 0.1, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.4, 0.4, 0.5, 0.5, 0.6, 0.7, 0.7, 0.7, 0.8, 0.8, 0.8, 1.4]
SS_DIFF40 = [2.0012262129927194, 2.196505609029743, 1.698635887231618, 1.3642974148952407, 2.232991444407042,
             1.1980823238478724, 0.49349805487063125]


def _hand(mags: list[float], dm: float = 0.1, rng: float = 0.5) -> tuple[float | None, list[float]]:
    """The definition written out with plain Python loops over integer bins."""
    bins = [round(x / dm) for x in mags]
    steps = 5 if (dm, rng) == (0.1, 0.5) else len(np.arange(0, rng, dm))
    lo, hi = min(bins), max(bins)

    def b_of(c: int) -> tuple[float, float]:
        sel = [x for x, k in zip(mags, bins) if k >= c]
        n = len(sel)
        mean = sum(sel) / n
        b = math.log(1 + dm / (mean - c * dm)) / (dm * math.log(10))
        var = sum((x - mean) ** 2 for x in sel) / (n * (n - 1))
        return b, math.log(10) * b * b * math.sqrt(var)

    diffs = []
    for c in range(lo, hi - steps + 1):
        b, sig = b_of(c)
        avg = sum(b_of(c + s)[0] for s in range(steps) if c + s <= hi) / steps
        diffs.append(abs(avg - b) / sig)
        if diffs[-1] <= 1:
            return c * dm, diffs
    return None, diffs


def test_hand_computed_small_catalog_that_used_to_never_stabilise():
    # by hand: n = 20, sum = 11.2, mean = 0.56, b(0.0) = ln(1 + 0.1/0.56) / (0.1 ln 10)
    assert sum(CAT20) == pytest.approx(11.2)
    b0 = math.log(1 + 0.1 / 0.56) / (0.1 * math.log(10))
    assert b0 == pytest.approx(0.7135590853566826, rel=1e-12)  # SeismoStats' b_values_tested[0]
    mc, diffs = _hand(CAT20)
    assert mc == 0.0 and diffs[0] == pytest.approx(0.47621419761940764, rel=1e-9)  # SeismoStats' diff_bs[0]
    assert mc_bstab(np.array(CAT20), dm=0.1) == pytest.approx(mc, abs=1e-12)


def test_hand_computed_catalog_with_negative_magnitudes_matches_seismostats():
    mc, diffs = _hand(CAT40)
    np.testing.assert_allclose(diffs, SS_DIFF40, rtol=1e-9)
    assert mc == pytest.approx(0.1)
    assert mc_bstab(np.array(CAT40), dm=0.1) == pytest.approx(0.1, abs=1e-12)
    # the b-value at that Mc uses the same magnitudes
    assert b_value(np.array(CAT40), "tinti", mc="bstab", dm=0.1).mc == pytest.approx(0.1)


@pytest.mark.parametrize("seed", range(12))
def test_generated_100_event_catalogs_agree_with_the_hand_definition(seed):
    rng = np.random.default_rng(seed)
    full = rng.exponential(np.log10(np.e) / rng.uniform(0.7, 1.5), 400)
    keep = rng.random(full.size) < np.clip(0.2 + full, 0, 1)
    m = [round(x, 1) for x in np.round(full[keep][:100] / 0.1) * 0.1]
    mc, _ = _hand(m)
    if mc is None:
        with pytest.raises(InsufficientDataError, match="never stabilises"):
            mc_bstab(np.array(m), dm=0.1)
    else:
        assert mc_bstab(np.array(m), dm=0.1) == pytest.approx(mc, abs=1e-9)


def test_magnitude_range_narrower_than_the_stability_range_is_one_line_error():
    with pytest.raises(InsufficientDataError, match="not wider"):
        mc_bstab(np.array([1.0, 1.1, 1.2, 1.3, 1.0, 1.1]), dm=0.1)
