"""The reference values of the campaign report and its fixed layout.

:data:`REFERENCE` holds the ranges of Ye, Lui & Young (2024) a reproduction should fall
in; the other constants fix what the report shows where: the per-run statistics
(:data:`STAT_COLUMNS`), the sections of the pipeline figures, the order of the campaign
stages, and the reference shares of the grain-scale records.
"""

from __future__ import annotations

from dataclasses import dataclass

REPORT_FILE = "report.html"
#: figures the report makes itself are written to figures/ with this prefix
OWN_PREFIX = "report_"


@dataclass(frozen=True)
class Reference:
    """A quantity of the reference study and the range a reproduction should fall in."""

    label: str
    lo: float
    hi: float
    unit: str
    source: str


#: Ye, Lui & Young (2024) and the first author's thesis runs (shared/reference/ye2024.md §2, §5)
REFERENCE: dict[str, Reference] = {
    "peak_mpa": Reference("peak differential stress", 150.0, 340.0, "MPa", "27 PFC3D runs, mean ≈ 235 MPa"),
    "drop_mpa": Reference("stress drop", 38.0, 115.0, "MPa", "27 PFC3D runs, mean ≈ 76 MPa"),
    "b": Reference("b-value", 0.6, 1.7, "", "thesis runs, b = 0.99 ± 0.27 (0.61–1.67)"),
    "d2": Reference("fractal dimension D2", 1.4, 2.0, "", "thesis runs, D = 1.72 ± 0.15 (1.42–1.95)"),
}

#: statistics of the per-run table: (column of analysis/seismicity.parquet, i.e. of
#: :func:`labquake.analysis.seismicity.run_statistics`, heading, reference key)
STAT_COLUMNS: list[tuple[str, str, str]] = [
    ("b_aki", "b (Aki ML)", "b"),
    ("b_lsq", "b (LSQ, reference code)", "b"),
    ("d2_3d", "D2 (3-D)", "d2"),
    ("d2_reference", "D2 (2-D, reference code)", "d2"),
]

#: sections of ``figures/*.png`` by file-name prefix (pipeline and grain figures), in report order
FIGURE_SECTIONS: list[tuple[str, str]] = [
    ("seismicity", "Catalog statistics: b-values and D2"),
    ("distances_", "Distances between the runs' foreshock and mainshock clouds"),
    ("dendrograms_", "Dendrograms of the foreshock (Tf) and mainshock (Tm) trees"),
    ("bk_", "B_k: Fowlkes–Mallows comparison of Tf and Tm"),
    ("grains_", "Grain scale: contact categories, stress–strength overlap, acceleration"),
]
#: the stages of a campaign (labquake.campaign), in order
STAGE_ORDER = ("prepare", "simulate", "analysis", "grains", "report")
#: per-run figures, listed by name (the report shows overview figures of all runs instead)
PER_RUN_PREFIXES = ("loading_", "kdf_")

#: pipeline figures shown in the cycles section (not again under "Other figures")
CYCLE_FIGURES = ("b_cycle",)

#: reference shares of the grain-scale records (ye2024.md §1)
GRAIN_REFERENCE = {
    "share_shear_rising_strength_not": "about 25% (shear force accumulates without a gain in shear strength)",
    "share_unloading": "about 10% (unloading by the foreshock)",
}
