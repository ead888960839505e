"""Grain-scale analysis of monitored fault-contact forces (Ye et al. 2024, §7).

For every monitored fault contact and every foreshock episode of a run:

1. **Two-piece linear fit.** The force series is cut at the episode's KDF peak. A line is
   fitted to the samples of the episode up to and including the cut (slope ``s1``, R²) and
   another from the cut to the end of the episode (slope ``s2``, R²). The jump is
   ``J = post-fit value at the cut − pre-fit value at the cut``. Slopes are in N/step.
2. **Shape category** from the signs of ``s1``, ``J/s1`` and ``J/s2`` (equivalently of
   ``s1``, ``J`` and ``s2``):

   ===  ===  ====  ====  ======================
   cat  s1   J/s1  J/s2  shape
   ===  ===  ====  ====  ======================
   1    \\+   −     −     rise, drop, rise
   2    \\+   \\+    \\+    rise, jump up, rise
   3    \\+   \\+    −     rise, jump up, fall
   4    \\+   −     \\+    rise, drop, fall
   5    −    −     −     fall, jump up, fall
   6    −    \\+    \\+    fall, drop, fall
   7    −    \\+    −     fall, drop, rise
   8    −    −     \\+    fall, jump up, rise
   ===  ===  ====  ====  ======================

   plus 9 (the contact broke at or after the cut, within the episode), 10 (it was already
   broken before the cut) and 0 (undetermined: fewer than two samples on a side, or a
   slope or jump that is zero to rounding).
3. **Time windows before the mainshock.** Each record's time is its episode's lever arm
   (mainshock KDF peak − episode peak, steps). Windows ``[k·w, (k+1)·w)`` for
   ``k = 0 … span/w − 1`` (reference: w = 25,000, span = 600,000).
4. **Shear stress against shear strength** per window: ``τ = F_s/A`` and
   ``τ_s = c + tanφ·F_n/A`` from the pre-cut fits evaluated at the cut; their PDFs on 99
   bins over 0–300 MPa, and the overlap ``Σ min(pdf_τ, pdf_τs)·Δ``.
5. **"Acceleration"**: ``Δslope = s2 − s1`` of shear and of normal force; probability
   histograms on 49 bins over ±8e-5 N/step and ``Σ (p_shear − p_normal)·Δ`` per window
   (as in the reference code: probabilities are counts over *all* records of the window,
   so the sum equals Δ times the difference of the in-range fractions; the difference of
   the mean Δslope is reported beside it).
6. **Headline shares**: the share of records whose shear force rises before the cut while
   the shear strength (∝ normal force) does not, and the share whose shear force drops at
   the cut (unloading by the foreshock), per run and over the campaign.

The core functions take plain arrays and DataFrames; :func:`analyze_campaign_grains` reads
run directories and writes ``analysis/grains_*.parquet`` and ``figures/grains_*.png``.

Fits use per-segment sums of centred data computed for all contacts and all segments at
once (``np.add.reduceat``), so no Python loop runs over contacts or episodes and there is
no cancellation between distant samples (a global cumulative sum over 40,000 samples
loses the slope of short segments to rounding).

The package, by job:

- :mod:`labquake.analysis.grains.fits`: two-piece fits and shape categories (steps 1–2)
- :mod:`labquake.analysis.grains.records`: the run's contacts table as arrays, one record
  per (episode, contact)
- :mod:`labquake.analysis.grains.windows`: statistics per time window (steps 3–6)
- :mod:`labquake.analysis.grains.campaign`: a run directory, a whole campaign

The names below are the public API.
"""

from labquake.analysis.grains.campaign import (
    analyze_campaign_grains,
    analyze_run_grains,
)
from labquake.analysis.grains.fits import (
    CATEGORY_SHAPES,
    broken_codes,
    classify_shapes,
    two_piece_fit,
)
from labquake.analysis.grains.records import contact_arrays, segment_contacts
from labquake.analysis.grains.windows import (  # noqa: F401 - the edges and shear_stress_strength: public
    DSLOPE_EDGES,
    REFERENCE_FAULT,
    STRESS_EDGES,
    acceleration_difference,
    category_proportions,
    headline_shares,
    histogram_pdf,
    pdf_overlap,
    shear_stress_strength,
    stress_strength,
    time_windows,
)

__all__ = [
    "REFERENCE_FAULT",
    "CATEGORY_SHAPES",
    "two_piece_fit",
    "broken_codes",
    "classify_shapes",
    "contact_arrays",
    "segment_contacts",
    "time_windows",
    "category_proportions",
    "histogram_pdf",
    "pdf_overlap",
    "stress_strength",
    "acceleration_difference",
    "headline_shares",
    "analyze_run_grains",
    "analyze_campaign_grains",
]
