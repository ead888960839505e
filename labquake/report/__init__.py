"""The campaign report: one self-contained ``report.html`` (every image embedded).

:func:`write_report` reads everything from the campaign directory, so a report can be
rebuilt at any time from results on disk: the runs, ``campaign.toml`` and
``campaign.json`` (written by :mod:`labquake.campaign`), ``analysis/*.parquet`` and
``figures/*.png`` (written by :func:`labquake.analysis.pipeline.analyze_campaign` and
:func:`labquake.analysis.grains.analyze_campaign_grains`). Missing pieces are stated in the report,
never fatal: a report of a campaign whose analysis failed still shows the runs.

The report opens with a summary (runs complete, reference ranges met, B_k levels
significant after multiple-testing correction, and every warning), a key from the short
run labels ``R01``, ``R02``, ... used in the figures to the run names and parameters, and a
figure index. It then holds the loading curves and fault-crack KDFs, a table of peak
stress, stress drop, b and D2 per run against the reference ranges of Ye et al. (2024),
the stick-slip cycles beside the Okubo FB03-087 laboratory fault (:func:`cycles_section`),
the AE source mechanisms (a Hudson source-type plot of every event and the share of
tensile, shear, implosive and CLVD events per run, :func:`source_mechanisms`),
the dendrograms and B_k (raw, Holm and Benjamini–Hochberg p-values), the grain-scale
figures, a gallery of the per-run figures, one 3D image of the contact-force network, and
the campaign's config and software versions.

Significance: the headline counts B_k levels whose **Holm**-adjusted p is below ``alpha``
(and lists the Benjamini–Hochberg-adjusted and raw p beside them). ``family="metric"``
adjusts over the levels of each metric (as :func:`labquake.analysis.trees.compare_trees` and the
B_k figures do); ``family="all"`` adjusts over every level of every metric together
(family-wise control across the metrics).

Honesty: an analysis table that exists but cannot be read is a visible warning (its
numbers are not recomputed with other settings behind the reader's back), and the outputs
of a stage that failed (``campaign.json``: ``stage_errors``, ``stale``) are labelled
**stale** wherever they are shown.

The package, by job:

- :mod:`labquake.report.reference`: the reference ranges of Ye et al. (2024) and the
  report's fixed layout (file names, figure sections, stage order)
- :mod:`labquake.report.numbers`: the per-run numbers (stick-slip and mainshock stresses)
  and the analysis tables read back from ``analysis/*.parquet``
- :mod:`labquake.report.figures`: the figures the report draws itself (loading curves,
  energy budget, KDFs, Hudson plot, contact-force network)
- :mod:`labquake.report.markup`: the HTML building blocks (escaping, tables, embedded images,
  the stylesheet)
- :mod:`labquake.report.significance`: B_k with Holm and Benjamini–Hochberg adjusted p
- :mod:`labquake.report.state`: what the campaign directory says about itself
  (``campaign.json``, ``campaign.toml``, stage outputs, stale files)
- :mod:`labquake.report.sections`: the stick-slip cycles and forecasting sections

This module assembles the report: :func:`write_report`, and :func:`per_run_table` with the
:func:`_compute_stats` it falls back to. They live here, in ``labquake.report`` itself, so
that the name ``labquake.report._compute_stats`` is the one :func:`per_run_table` looks up
(patching it on the package takes effect). The names below are the public API.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from labquake.errors import LabquakeError
from labquake.io.rundir import (
    RunDirectory,
    atomic_write_bytes,
    atomic_write_text,
    find_runs,
    software_versions,
)
from labquake.report.figures import (
    energy_figure,
    force_network_image,
    hudson_figure,
    kdf_figure,
    loading_figure,
    source_mechanisms,
)
from labquake.report.markup import (
    _CSS,
    _STALE,
    _anchor,
    _e,
    _img,
    _reproduction_table,
    _table,
)
from labquake.report.numbers import _analysis_tables, mainshock_stats, stick_slip_stats
from labquake.report.reference import (
    CYCLE_FIGURES,
    FIGURE_SECTIONS,
    GRAIN_REFERENCE,
    OWN_PREFIX,
    PER_RUN_PREFIXES,
    REFERENCE,
    REPORT_FILE,
    STAGE_ORDER,
    STAT_COLUMNS,
    Reference,
)
from labquake.report.sections import CYCLE_DEFINITIONS, cycles_section, forecast_section  # noqa: F401 - public
from labquake.report.significance import (
    _bk_table,
    _significance_headline,
    bk_significance,
)
from labquake.report.state import (
    STAGE_OUTPUTS,
    _read_json,
    _read_toml_quiet,
    _safe_name,
    _stale_files,
    stage_outputs,
)


def per_run_table(campaign_dir: str | os.PathLike, tables: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per complete run: peak, after, drop [MPa] (of the mainshock in
    ``slips.parquet``, or from the loading curve for runs without one), the
    :data:`STAT_COLUMNS` (b and D2) and ``n_events`` (fault events).

    b and D2 come from ``analysis/seismicity.parquet`` when the campaign analysis wrote
    it, else (no such file) from :func:`labquake.analysis.seismicity.run_statistics` on each run's
    events. When the file exists but cannot be read (or lacks the ``run`` column), b and
    D2 are left empty rather than recomputed with other settings.
    """
    campaign_dir = Path(campaign_dir)
    tables = _analysis_tables(campaign_dir) if tables is None else tables
    runs = find_runs(campaign_dir)
    rows = []
    for rd in runs:
        row: dict[str, Any] = {"run": rd.name}
        try:  # the slip events where the run has them, else (imported runs) the loading curve
            row.update(mainshock_stats(rd.read_table("slips")) if rd.has_table("slips")
                       else stick_slip_stats(rd.read_table("loading", ["differential_stress"])))
        except LabquakeError:
            row.update(peak_mpa=math.nan, after_mpa=math.nan, drop_mpa=math.nan)
        rows.append(row)
    df = pd.DataFrame(rows, columns=["run", "peak_mpa", "after_mpa", "drop_mpa"])
    stats = tables.get("seismicity")
    if stats is None and not (campaign_dir / "analysis" / "seismicity.parquet").exists():
        stats = _compute_stats(runs)
    elif stats is None or "run" not in stats.columns:
        stats = pd.DataFrame({"run": []})
    stats = stats.drop_duplicates("run").set_index("run").reindex(df["run"])
    for col in [c for c, _, _ in STAT_COLUMNS] + ["n_events"]:
        df[col] = stats[col].to_numpy(dtype=float) if col in stats.columns else math.nan
    return df


def _compute_stats(runs: Sequence[RunDirectory]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    try:
        from labquake.analysis.seismicity import run_statistics
    except ImportError:
        return pd.DataFrame({"run": [rd.name for rd in runs]})
    for rd in runs:
        try:
            rows.append(run_statistics(rd, n_boot=0))
        except (LabquakeError, ValueError):  # no events table, too few events
            rows.append({"run": rd.name})
    return pd.DataFrame(rows) if rows else pd.DataFrame({"run": []})


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    v = software_versions()
    for pkg in ("dask", "distributed", "matplotlib", "pyvista", "vtk", "tqdm"):
        with contextlib.suppress(md.PackageNotFoundError):
            v.setdefault(pkg, md.version(pkg))
    return v


def write_report(campaign_dir: str | os.PathLike, out: str | os.PathLike | None = None, *,
                 family: str = "metric", alpha: float = 0.05) -> Path:
    """Write ``report.html`` for a campaign directory (atomically) and return its path.

    Parameters
    ----------
    campaign_dir
        The campaign directory.
    out
        Where to write (default ``campaign_dir/report.html``).
    family
        Multiple-testing family of the B_k significance headline: ``"metric"`` (the levels
        of each metric) or ``"all"`` (every level of the three metrics together).
    alpha
        Significance level of the headline.
    """
    from labquake.viz.analysis_figures import short_labels

    bk_significance(pd.DataFrame({"p": []}), family, alpha)  # validates family and alpha
    campaign_dir = Path(campaign_dir)
    out = Path(out) if out is not None else campaign_dir / REPORT_FILE
    runs = find_runs(campaign_dir)
    warn: list[str] = []
    state = _read_json(campaign_dir / "campaign.json", warn)
    tables = _analysis_tables(campaign_dir, warn)
    figdir = campaign_dir / "figures"
    name = state.get("name") or campaign_dir.name
    spec_path = campaign_dir / "campaign.toml"
    run_states = state.get("runs") or {}
    stale = _stale_files(campaign_dir, state)
    stale_tables = {Path(f).stem for f in stale if f.startswith("analysis/")}
    parts: list[str] = []
    add = parts.append
    gallery: list[tuple[str, str]] = []  # (anchor, title) of every figure shown, for the index

    def own_figure(fname: str, data: bytes | None) -> bytes | None:
        """A figure the report makes: also saved in figures/ for use elsewhere."""
        if data is not None:
            with contextlib.suppress(LabquakeError):
                atomic_write_bytes(figdir / fname, data)
        return data

    def figure(data: bytes, caption: str, anchor: str, title: str, is_stale: bool = False) -> str:
        gallery.append((anchor, title + (" (stale)" if is_stale else "")))
        return _img(data, caption, anchor=anchor, stale=is_stale)

    # -- labels ----------------------------------------------------------------------------
    all_names = sorted(set(run_states) | {rd.name for rd in runs})
    label_of = dict(zip(all_names, short_labels(all_names)))

    # -- numbers for the summary -------------------------------------------------------------
    n_all = len(run_states) or len(runs)
    failed = {k: v for k, v in run_states.items() if v.get("status") == "failed"}
    unfinished = [k for k, v in run_states.items() if v.get("status") not in ("complete", "failed")]
    per_run = per_run_table(campaign_dir, tables) if runs else None
    if per_run is not None:
        per_run.insert(0, "label", [label_of.get(r, r) for r in per_run["run"]])
    if per_run is not None and "seismicity" in tables and "run" not in tables["seismicity"].columns:
        warn.append("b and D2 are not shown: analysis/seismicity.parquet has no 'run' column; rerun the analysis")
    for k, v in failed.items():
        warn.append(f"run {label_of.get(k, k)} ({k}) failed: {v.get('error')}")
    if unfinished:
        warn.append(f"{len(unfinished)} run(s) not finished: {', '.join(unfinished[:6])}{' ...' if len(unfinished) > 6 else ''}")
    stage_errors = state.get("stage_errors") or {}
    for k, v in stage_errors.items():
        warn.append(f"stage {k} failed: {v}")
    if stale:
        by_stage: dict[str, int] = {}
        for st in stale.values():
            by_stage[st] = by_stage.get(st, 0) + 1
        for st, n in by_stage.items():
            warn.append(f"{n} output(s) of the failed {st} stage are from an earlier attempt and are marked stale")
    if "runs" in tables and {"run", "included"} <= set(tables["runs"].columns):
        excl = tables["runs"][~tables["runs"]["included"].astype(bool)]
        if len(excl):
            warn.append(f"{len(excl)} run(s) left out of the cloud and tree analysis (see the reproduction section)")

    # -- header and summary ------------------------------------------------------------------
    add(f"<h1>labquake campaign <code>{_e(name)}</code></h1>")
    add('<section id="summary"><h2>Summary</h2><ul>')
    add(f"<li><b>Runs</b>: {len(runs)} of {n_all} complete"
        + (f', <span class="warn">{len(failed)} failed</span>' if failed else "")
        + (f', <span class="warn">{len(unfinished)} not finished</span>' if unfinished else "") + ".</li>")
    if per_run is not None:
        met = []
        for key, ref in REFERENCE.items():
            cols = [(c, t) for c, t, r in STAT_COLUMNS if r == key] if key in ("b", "d2") else [(key, ref.label)]
            shown = 0
            for c, title in cols:
                v = pd.to_numeric(per_run.get(c, pd.Series(dtype=float)), errors="coerce").dropna()
                if len(v):
                    met.append(f"{title} {int(((v >= ref.lo) & (v <= ref.hi)).sum())}/{len(v)}")
                    shown += 1
            if not shown:
                met.append(f"{ref.label} – (not computed)")
        add(f"<li><b>Reference ranges met</b> (runs inside the range of Ye et al. 2024): {_e('; '.join(met))}.</li>")
    if "bk" in tables and {"p", "k"} <= set(tables["bk"].columns):
        _, line = _significance_headline(tables["bk"], family, alpha)
        add(f"<li><b>B_k</b>: {_e(line)}{' ' + _STALE if 'bk' in stale_tables else ''}.</li>")
    else:
        add("<li><b>B_k</b>: not computed.</li>")
    if warn:
        add(f'<li class="warn"><b>Warnings ({len(warn)})</b>:<ul>' + "".join(f"<li>{_e(w)}</li>" for w in warn)
            + "</ul></li>")
    else:
        add("<li><b>Warnings</b>: none.</li>")
    add(f'</ul><p class="note">Campaign directory <code>{_e(campaign_dir.resolve())}</code>. Written '
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.</p></section>")
    index_pos = len(parts)  # the figure index goes here once every figure is known
    add("")

    # -- run key -------------------------------------------------------------------------------
    add('<h2 id="run-key">Run key</h2><p class="note">Figures label runs by these short labels.</p>')
    key_rows = []
    complete = {rd.name for rd in runs}
    for rn in all_names:
        stt = run_states.get(rn, {}).get("status") or ("complete" if rn in complete else "")
        ov = run_states.get(rn, {}).get("overrides", {})
        key_rows.append({"label": label_of[rn], "run": rn, "status": stt,
                         "parameters": ", ".join(f"{k}={v}" for k, v in ov.items())})
    add(_table(pd.DataFrame(key_rows, columns=["label", "run", "status", "parameters"]), max_rows=10_000))

    stages = state.get("stages_s") or {}
    stages = {k: stages[k] for k in sorted(stages, key=lambda k: (STAGE_ORDER.index(k) if k in STAGE_ORDER else 99, k))}
    if stages:
        add('<h2>Stages</h2><table><tr><th class="l">stage</th><th>wall time [s]</th></tr>'
            + "".join(f'<tr><td class="l">{_e(k)}</td><td>{v:.1f}</td></tr>' for k, v in stages.items())
            + f'<tr><td class="l"><b>total</b></td><td><b>{sum(stages.values()):.1f}</b></td></tr></table>')

    # -- reproduction table ----------------------------------------------------------------
    add("<h2>Reproduction of the reference ranges</h2>")
    if per_run is not None:
        if "seismicity" in stale_tables:
            add(f"<p>{_STALE}: b and D2 come from an analysis attempt older than the failed stage.</p>")
        add(_reproduction_table(per_run, {k: v.get("overrides", {}) for k, v in run_states.items()}))
    else:
        add('<p class="warn">No complete run.</p>')
    if "runs" in tables and {"run", "included"} <= set(tables["runs"].columns):
        excl = tables["runs"][~tables["runs"]["included"].astype(bool)]
        if len(excl):
            add(f'<p class="warn">{len(excl)} run(s) left out of the cloud and tree analysis:</p>' + _table(excl))

    # -- loading curves and KDFs (overviews of every run) -----------------------------------
    per_run_figs = sorted(p for p in figdir.glob("*.png") if p.name.startswith(PER_RUN_PREFIXES)) if figdir.is_dir() else []
    add("<h2>Loading curves</h2>")
    data = own_figure(f"{OWN_PREFIX}loading.png", loading_figure(runs))
    add(figure(data, "Differential stress against axial strain, every complete run (labels: run key).",
               "fig-loading", "Loading curves") if data else '<p class="note">No loading curve.</p>')
    add("<h2>Energy budget</h2>")
    en = energy_figure(runs)
    if en is not None:
        own_figure(f"{OWN_PREFIX}energy.png", en[0])
        note = (f" {en[1]} run(s) have no energy.parquet (made before it existed) and are not shown."
                if en[1] else "")
        add(figure(en[0], "Energy budget per run (first six with energy.parquet): boundary work W, strain and kinetic "
                   "energy, cumulative friction, damping and bond-break losses; below, the residual "
                   "W − (all the others) as a share of W." + note, "fig-energy", "Energy budget"))
    else:
        add('<p class="note">No run has an energy budget (energy.parquet; runs made before it existed).</p>')
    add("<h2>Fault-crack KDFs and episodes</h2>")
    settings = (_read_toml_quiet(spec_path, warn).get("campaign", {}) if spec_path.exists() else {}).get("analysis", {})
    eps = tables.get("episodes")
    eps = {r: g.reset_index(drop=True) for r, g in eps.groupby("run")} if eps is not None and "run" in eps else None
    data = own_figure(f"{OWN_PREFIX}kdf.png", kdf_figure(runs, settings.get("bandwidth", 2000), eps))
    add(figure(data, "Kernel density of fault-crack steps per run, with the episodes of the segmentation.",
               "fig-kdf", "Fault-crack KDFs") if data else '<p class="note">No fault crack.</p>')

    # -- stick-slip cycles, beside the Okubo laboratory data -------------------------------------
    add(cycles_section(campaign_dir, tables, own_figure, figure, stale_tables, stale))

    # -- AE source mechanisms ------------------------------------------------------------------
    add('<h2 id="source-mechanisms">AE source mechanisms</h2>')
    sm = source_mechanisms(runs)
    if sm is not None:
        table, shares = sm
        data = own_figure(f"{OWN_PREFIX}hudson.png", hudson_figure(table))
        add(figure(data, "Hudson source-type plot of every AE event (equal-area u–v projection; squares: textbook "
                   "sources). Classes by Hudson's k (isotropic share, −1 implosion … +1 explosion) and T (−1 CLVD+ … "
                   "+1 CLVD−): tensile k ≥ 0.2, implosive k ≤ −0.2, shear |k| < 0.2 and |T| ≤ 0.5, CLVD |k| < 0.2 "
                   "and |T| > 0.5 (labquake.sim.ae.moment).", "fig-hudson", "AE source types (Hudson plot)"))
        shares = shares.copy()
        shares.insert(0, "label", [label_of.get(r, r) for r in shares["run"]])
        add('<p class="note">Share of each source type per run, and the median iso/dev (isotropic part over the '
            "deviatoric scalar moment, opening positive) of all events and of the events made only of tensile "
            "cracks.</p>" + _table(shares, max_rows=10_000))
    else:
        add('<p class="note">No run has AE events.</p>')

    # -- analysis figures ------------------------------------------------------------------
    pngs = sorted(p for p in figdir.glob("*.png")
                  if not p.name.startswith((OWN_PREFIX, *PER_RUN_PREFIXES, *CYCLE_FIGURES))) if figdir.is_dir() else []
    for prefix, title in FIGURE_SECTIONS:
        figs = [p for p in pngs if p.name.startswith(prefix)]
        pngs = [p for p in pngs if p not in figs]
        if not figs and not (prefix == "bk_" and "bk" in tables):
            continue
        add(f"<h2>{_e(title)}</h2>")
        if prefix == "bk_" and "bk" in tables and {"p", "k"} <= set(tables["bk"].columns):
            head, _ = _significance_headline(tables["bk"], family, alpha)
            add((f"<p>{_STALE}: from an analysis attempt older than the failed stage.</p>" if "bk" in stale_tables else "") + head)
        for p in figs:
            rel = f"figures/{p.name}"
            add(figure(p.read_bytes(), p.name, _anchor(p.name), p.stem, rel in stale))
        if prefix == "bk_" and "bk" in tables:
            add(_bk_table(tables["bk"], family, alpha))
        if prefix == "grains_" and "grains_headline" in tables:
            head = tables["grains_headline"]
            add(("<p>" + _STALE + "</p>" if "grains_headline" in stale_tables else "")
                + "<p>Shares of the grain-scale records (reference: "
                + "; ".join(f"{_e(k)}: {_e(v)}" for k, v in GRAIN_REFERENCE.items()) + ")</p>" + _table(head))

    add("<h2>Contact-force network (3D)</h2>")
    fn = force_network_image(runs)
    if fn is not None:
        own_figure(f"{OWN_PREFIX}force_network.png", fn[0])
        add(figure(fn[0], f"Contact forces, {fn[1]}.", "fig-force-network", "Contact-force network"))
    else:
        add('<p class="note">No run has snapshots.</p>')
    if pngs:
        add("<h2>Other figures</h2>")
        for p in pngs:
            add(figure(p.read_bytes(), p.name, _anchor(p.name), p.stem, f"figures/{p.name}" in stale))

    # -- per-run figures: a gallery ------------------------------------------------------------
    if per_run_figs:
        add('<h2 id="per-run-figures">Per-run figures</h2><div class="gallery">')
        for p in per_run_figs:
            kind, _, run_part = p.stem.partition("_")
            rn = next((n for n in all_names if _safe_name(n) == run_part), run_part)
            lab = label_of.get(rn, run_part)
            add(figure(p.read_bytes(), f"{lab} {kind} ({rn})", _anchor(p.name), f"{lab} {kind}",
                       f"figures/{p.name}" in stale))
        add("</div>")

    add(forecast_section(campaign_dir))

    # -- tables, config, versions ----------------------------------------------------------
    add("<h2>Analysis tables</h2>")
    if tables:
        add('<table><tr><th class="l">file</th><th>rows</th><th class="l">columns</th></tr>')
        for k, t in tables.items():
            mark = " " + _STALE if k in stale_tables else ""
            add(f'<tr><td class="l">analysis/{_e(k)}.parquet{mark}</td><td>{len(t)}</td><td class="l">{_e(", ".join(map(str, t.columns)))}</td></tr>')
        add("</table>")
    else:
        add('<p class="note">None (the analysis did not run or wrote nothing).</p>')
    add("<h2>Campaign config</h2>")
    add(f"<pre>{_e(spec_path.read_text(encoding='utf-8'))}</pre>" if spec_path.exists() else '<p class="note">campaign.toml not found.</p>')
    add("<h2>Software versions</h2><table>" + "".join(f'<tr><td class="l">{_e(k)}</td><td class="l">{_e(v)}</td></tr>' for k, v in _versions().items()) + "</table>")

    # -- the figure index (a gallery of links), now that every figure is known --------------
    if gallery:
        parts[index_pos] = ('<nav id="figures"><h2>Figures</h2><ol class="index">'
                            + "".join(f'<li><a href="#{_e(a)}">{_e(t)}</a></li>' for a, t in gallery)
                            + "</ol></nav>")

    doc = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>labquake campaign {_e(name)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
    atomic_write_text(out, doc)
    return out


__all__ = ["REFERENCE", "Reference", "STAGE_OUTPUTS", "mainshock_stats", "bk_significance", "cycles_section",
           "force_network_image", "forecast_section", "kdf_figure", "loading_figure",
           "per_run_table", "stage_outputs", "stick_slip_stats", "write_report"]
