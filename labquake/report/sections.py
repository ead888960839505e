"""Sections of the campaign report built from other analyses: cycles and forecasting.

:func:`cycles_section` sets the simulated stick-slip cycles beside the Okubo FB03-087
laboratory fault (:mod:`labquake.analysis.cycle_stats`); :func:`forecast_section` shows the
skill scores of ``labquake forecast`` next to their baselines.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from labquake.errors import LabquakeError
from labquake.report.markup import _STALE, _e, _img, _num, _table
from labquake.report.reference import OWN_PREFIX
from labquake.report.state import _read_json

#: how the cycles of the two data sets are defined (the report's and docs/cycles.md's words)
CYCLE_DEFINITIONS = (
    "<b>Simulated</b>: a stick-slip is a slip event of <code>slips.parquet</code> with a static drop of at least "
    "<code>loading.stop_min_drop</code>; a cycle runs from the end of one stick-slip to the end of the next "
    "(labquake.sim.cycles). The drop is the differential-stress static drop; foreshocks are the fault AE events "
    "(on the fault, within 10 mm of its plane) between the previous stick-slip's end and this onset; the KDE "
    "segments each cycle's fault cracks (the campaign's bandwidth, in steps). "
    "<b>Okubo FB03-087</b> (4 m biaxial granite fault, Okubo et al., MIT licence; "
    "<code>tests/data/okubo-4m-fb03-087</code>): the 56 mainshocks of <code>mainshock_timing</code> (onset "
    "<code>mainshock_onset_all</code>, end <code>mainshock_termination_all</code>), so 55 cycles between two "
    "stick-slips; the drop is the macroscopic shear-stress drop of <code>stickslip_macroscopic_stats</code>; "
    "foreshocks are the visually picked gouge events (<code>picktime</code>) between the previous stick-slip's end "
    "and this onset (the picks were searched near the stick-slips only); the KDE segments each cycle's picks "
    "(σ = 0.15 s). Compared: cycles between two stick-slips (a recurrence is defined); recurrence and drop are "
    "divided by their run's mean before the CV, since the scales differ. The simulated recurrence is taken at the "
    "nominal loading rate (the drive's advance between stick-slip onsets over its full speed), as a laboratory "
    "recurrence at a constant loading rate is: the adaptive drive runs 1000 times slower during every slip and its "
    "quiet stretch, a nearly fixed pause that pads every interval of simulated time (that CV is the next row)."
)


def cycles_section(campaign_dir: str | os.PathLike, tables: Mapping[str, pd.DataFrame], own_figure=None, figure=None,
                   stale_tables: set[str] | frozenset[str] = frozenset(), stale: Mapping[str, str] | None = None,
                   okubo_dir: str | os.PathLike | None = None) -> str:
    """The "Stick-slip cycles" section: the simulated cycles (``analysis/cycles.parquet``)
    beside the Okubo FB03-087 laboratory data (:func:`labquake.analysis.cycle_stats.compare_cycles`),
    their distributions, and b through the seismic cycle (``figures/b_cycle.png``).

    When every run has a single cycle the comparison is one line; a missing analysis is
    one line too. ``own_figure(name, png)`` and ``figure(png, caption, anchor, title,
    stale)`` are :func:`write_report`'s (saving into figures/ and the figure index);
    without them figures are embedded directly.
    """
    from labquake.analysis import cycle_stats as cs
    campaign_dir = Path(campaign_dir)
    stale = stale or {}
    own_figure = own_figure or (lambda name, data: data)
    figure = figure or (lambda data, caption, anchor, title, is_stale=False: _img(data, caption, anchor=anchor,
                                                                                   stale=is_stale))
    out = ['<h2 id="cycles">Stick-slip cycles, beside the Okubo FB03-087 laboratory fault</h2>']
    cyc = tables.get("cycles")
    if cyc is None or not set(cs.CYCLE_COLUMNS) <= set(cyc.columns):
        out.append('<p class="note">Not computed: run <code>labquake analyze CAMPAIGN_DIR</code> (it writes '
                   "analysis/cycles.parquet).</p>")
        return "\n".join(out)
    mark = f"{_STALE} " if "cycles" in stale_tables else ""
    summ = cs.cycles_summary(cyc)
    sim = cs.comparison_set(cyc)
    if not len(sim):
        out.append(f"<p>{mark}Every run has a single stick-slip cycle ({summ['n_cycles']} complete cycle(s) in "
                   f"{summ['n_runs']} run(s)), so there is no recurrence or cycle-to-cycle variability to compare "
                   "with the laboratory; a cycles campaign (<code>simulations/cycles.toml</code>) has them.</p>")
    else:
        lab, lab_note = pd.DataFrame(), ""
        okubo = Path(okubo_dir) if okubo_dir is not None else cs.default_okubo_dir()
        try:
            lab = cs.okubo_cycles(okubo) if okubo is not None else lab
            if okubo is None:
                lab_note = "the Okubo data set was not found (set LABQUAKE_OKUBO_DIR); its column is empty. "
        except LabquakeError as exc:
            lab_note = f"the Okubo data could not be read ({exc}); its column is empty. "
        if lab.empty:
            lab = pd.DataFrame(columns=["run", "recurrence", "loading_recurrence", "static_drop", "n_foreshocks", "n_episodes",
                                        "n_foreshock_episodes", "kde_mainshock_at_slip"])
        table = cs.format_comparison(cs.compare_cycles(sim, lab)).rename(columns={"okubo": "Okubo FB03-087"})
        out.append(f"<p>{mark}{len(sim)} simulated cycle(s) between two stick-slips in {sim['run'].nunique()} run(s) "
                   f"(of {summ['n_cycles']} complete cycles); the figures below are printed whether or not they "
                   "agree with the laboratory.</p>")
        out.append(_table(table[["quantity", "simulated", "Okubo FB03-087", "how"]], max_rows=100))
        if lab_note:
            out.append(f'<p class="warn">{_e(lab_note)}</p>')
        out.append(f'<p class="note">{CYCLE_DEFINITIONS} The same table in markdown: '
                   "<code>python analysis/cycles_vs_okubo.py CAMPAIGN_DIR</code>.</p>")
        try:
            from labquake.viz.cycle_figures import cycle_comparison_figure

            fig = cycle_comparison_figure(cs.distribution_data(sim), cs.distribution_data(lab))
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            FigureCanvasAgg(fig)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
            data = own_figure(f"{OWN_PREFIX}cycles.png", buf.getvalue())
            out.append(figure(data, "Recurrence and stress drop over their run's mean (ECDF) and the foreshock count "
                              "per cycle: simulated cycles (blue) beside Okubo FB03-087 (orange).", "fig-cycles",
                              "Cycles beside Okubo FB03-087"))
        except ImportError:  # pragma: no cover - matplotlib is a dependency
            pass
    b_png = campaign_dir / "figures" / "b_cycle.png"
    if b_png.is_file():
        out.append(figure(b_png.read_bytes(), "b (Aki–Utsu above the maximum-curvature Mc, ± bootstrap sd) against "
                          "the time to the next mainshock as a fraction of the cycle, pooled over every complete "
                          "cycle (analysis/b_cycle.parquet). The laboratory observation is that b falls before "
                          "failure.", "fig-b_cycle", "b through the seismic cycle", "figures/b_cycle.png" in stale))
    return "\n".join(out)


def forecast_section(campaign_dir: str | os.PathLike) -> str:
    """The "Forecasting" section: every skill score of ``forecast/skill.json`` next to its
    baseline (:mod:`labquake.analysis.forecast`), the reasons where a method does not apply, and the
    figures of ``forecast/``. Says how to make them when ``labquake forecast`` has not run."""
    fdir = Path(campaign_dir) / "forecast"
    doc = _read_json(fdir / "skill.json")
    out = ["<h2>Forecasting: next record, precursors, time to failure, 2-of-3 detection</h2>"]
    if not doc:
        return out[0] + '<p class="note">Not computed: run <code>labquake forecast CAMPAIGN_DIR</code>.</p>'
    rows = []
    for method in ("evt", "precursor", "ttf", "consensus"):
        for data, e in (doc.get(method) or {}).items():
            if not e.get("applies", True):
                rows.append(f'<tr><td class="l">{_e(method)}</td><td class="l">{_e(data)}</td><td>–</td><td>–</td>'
                            f'<td>–</td><td class="l">does not apply: {_e(e.get("reason"))}</td></tr>')
                continue
            better = "higher" if e.get("higher_is_better") else "lower"
            s, b = e.get("score"), e.get("baseline")
            wins = s is not None and b is not None and ((s > b) if e.get("higher_is_better") else (s < b))
            rows.append(f'<tr><td class="l">{_e(method)}</td><td class="l">{_e(data)}</td>'
                        f'<td class="{"in" if wins else "out"}">{_num(s)}</td><td>{_num(b)}</td>'
                        f'<td>{_num(e.get("n"), "{:.0f}")} {_e(e.get("n_unit", ""))}</td>'
                        f'<td class="l">{_e(e.get("score_name"))} ({better} is better) vs {_e(e.get("baseline_name"))}'
                        f'{"; " + _e(e["note"]) if e.get("note") else ""}</td></tr>')
    out.append('<table><tr><th class="l">method</th><th class="l">data</th><th>score</th><th>baseline</th>'
               '<th>n</th><th class="l">what</th></tr>' + "".join(rows) + "</table>")
    out.append('<p class="note">Green: the method beats its baseline; red: it does not. Scores are out of '
               "sample (leave one run or cycle out, folds fixed before scoring); details in "
               "<code>forecast/skill.json</code>.</p>")
    for p in sorted(fdir.glob("*.png")):
        out.append(_img(p.read_bytes(), p.name))
    return "\n".join(out)
