"""Campaign analysis: every macro-scale step over every run of a campaign directory.

:func:`analyze_campaign` runs, for each complete run under ``campaign_dir``:
segmentation (:mod:`labquake.analysis.segment`), catalog statistics (:mod:`labquake.analysis.seismicity`),
foreshock and mainshock clouds (:mod:`labquake.analysis.clouds`); then, over the runs, the
distance matrices (:mod:`labquake.analysis.distances`) of both cloud sets for every metric, and
the Tf/Tm tree comparison (:mod:`labquake.analysis.trees`).

Written under the campaign directory (every file atomically):

``analysis/``
  - ``episodes.parquet``: run + the episodes table + ``role``
  - ``seismicity.parquet``: one row per run: b (lsq, aki, tinti, bpositive) ± sigma, Mc,
    D2 (3d, 2d, fault, reference)
  - ``clouds.parquet``: run, cloud (foreshock|mainshock), event_id, step_start,
    episode_id and the 5 features
  - ``distances.parquet``: metric, cloud, run_a, run_b, distance (full matrices)
  - ``linkage.parquet``: metric, cloud, merge, a, b, height, size (scipy format; leaves
    are the runs in ``runs`` order)
  - ``bk.parquet``: metric + :func:`labquake.analysis.trees.compare_trees` columns
  - ``runs.parquet``: run, included, n_foreshock, n_mainshock, n_episodes, reason
  - ``cycles.parquet``: one row per stick-slip cycle of every run
    (:data:`labquake.analysis.cycle_stats.CYCLE_COLUMNS`): recurrence, static drop, b,
    D2, foreshocks, KDE episodes, cloud sizes; always written
  - ``b_cycle.parquet``: b against the time to the next mainshock, pooled over the
    complete cycles (:func:`labquake.analysis.cycle_stats.b_through_cycle`)
  - ``cycle_episodes.parquet``, ``cycle_clouds.parquet``: run, cycle + the episodes and
    clouds of each cycle on its own
``figures/``
  ``kdf_<run>.png``, ``loading_<run>.png``, ``seismicity.png``,
  ``dendrograms_<metric>.png``, ``distances_<metric>.png``, ``bk_<metric>.png``,
  ``b_cycle.png``

Cycles and the trees. By default the across-run clouds and trees are per run, as before
cycles were counted: a run's clouds come from segmenting all its fault cracks at once, so
for a run with several stick-slips they mix cycles (the CLI says so). With
``per_cycle=True`` (``labquake analyze --per-cycle``) every (run, cycle) whose two clouds
hold ``min_events`` events is a leaf instead, named ``<run>#c<cycle>``: the distance,
linkage and B_k tables then compare cycles across cycles and runs, and at least 3 such
leaves are needed (however many runs). The per-run tables (``runs``, ``episodes``,
``seismicity``, ``clouds``) are the same in both modes.

Excluded runs (documented and reported, never silent): a run with no fault crack (no
mainshock), no fault event in its mainshock episode, or a foreshock or mainshock cloud
with fewer than ``min_events`` events. They are listed with the reason in
``runs.parquet`` (and printed by the CLI). Fewer than 3 included runs raise
:class:`InsufficientDataError` (after ``runs.parquet`` is written).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from labquake.errors import ConfigError, InsufficientDataError, LabquakeError
from labquake.io.rundir import RunDirectory, atomic_write_parquet, find_runs

__all__ = ["analyze_campaign", "analyze_run"]

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _safe(name: str) -> str:
    return _SAFE.sub("_", name)


def analyze_run(
    run: RunDirectory,
    *,
    bandwidth=2000,
    grid=20,
    prominence: float = 0.05,
    paper_quirks: bool = False,
    max_fault_distance: float | None = 0.01,
    n_boot: int = 200,
    seed: int = 0,
) -> dict:
    """Segmentation, statistics and clouds of one run.

    Returns ``{"episodes", "stats", "clouds", "error"}``; ``error`` is the one-line reason
    when the run cannot give clouds (the other entries then may be ``None``).
    """
    from labquake.analysis.clouds import event_clouds
    from labquake.analysis.segment import segment_run
    from labquake.analysis.seismicity import run_statistics

    out: dict = {"episodes": None, "stats": None, "clouds": None, "error": None}
    try:
        out["stats"] = run_statistics(run, n_boot=n_boot, seed=seed,
                                      max_fault_distance=0.01 if max_fault_distance is None else max_fault_distance)
    except LabquakeError as exc:
        out["stats"] = {"run": run.name, "notes": str(exc)}
    try:
        out["episodes"] = segment_run(run, bandwidth=bandwidth, grid=grid, prominence=prominence)
        out["clouds"] = event_clouds(run, episodes=out["episodes"], paper_quirks=paper_quirks,
                                     max_fault_distance=max_fault_distance)
    except LabquakeError as exc:
        out["error"] = str(exc)
    return out


def _linkage_rows(Z, metric: str, cloud: str) -> pd.DataFrame:
    Z = np.asarray(Z, float)
    return pd.DataFrame({"metric": metric, "cloud": cloud, "merge": np.arange(Z.shape[0], dtype=np.int64),
                         "a": Z[:, 0].astype(np.int64), "b": Z[:, 1].astype(np.int64),
                         "height": Z[:, 2], "size": Z[:, 3].astype(np.int64)})


def _matrix_rows(D: np.ndarray, names: Sequence[str], metric: str, cloud: str) -> pd.DataFrame:
    n = len(names)
    ia, ib = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    nm = np.asarray(names, dtype=object)
    return pd.DataFrame({"metric": metric, "cloud": cloud, "run_a": nm[ia.ravel()], "run_b": nm[ib.ravel()],
                         "distance": D.ravel()})


def analyze_campaign(
    campaign_dir,
    metrics: Sequence[str] = ("hausdorff", "chamfer", "emd"),
    n_perm: int = 1000,
    seed: int = 0,
    *,
    method: str = "single",
    null: str = "permutation",
    bandwidth=2000,
    grid=20,
    prominence: float = 0.05,
    paper_quirks: bool = False,
    square_quirk: bool = False,
    max_fault_distance: float | None = 0.01,
    min_events: int = 2,
    n_boot: int = 200,
    n_jobs: int | None = None,
    figures: bool = True,
    progress: bool = False,
    per_cycle: bool = False,
) -> dict[str, Path]:
    """Analyse every complete run of ``campaign_dir`` (see the module docstring).

    Parameters
    ----------
    metrics
        Distance metrics (:data:`labquake.analysis.distances.METRICS`).
    n_perm, seed
        Null draws for the tree comparison, and the seed of every random choice.
    method, null, square_quirk
        Linkage, null and the reference's square-matrix quirk for
        :func:`labquake.analysis.trees.compare_trees`.
    bandwidth, grid, prominence
        Segmentation (:func:`labquake.analysis.segment.segment_episodes`).
    paper_quirks, max_fault_distance
        Cloud features (:func:`labquake.analysis.clouds.event_clouds`).
    min_events
        Runs whose foreshock or mainshock cloud has fewer events are excluded.
    n_boot
        Bootstrap resamples for the b-value uncertainties.
    n_jobs
        Threads for the distance matrices.
    figures
        Write the PNG figures.
    per_cycle
        Make each (run, cycle) a leaf of the trees instead of each run (module docstring).

    Returns
    -------
    dict mapping a short name (``"episodes"``, ``"bk"``, ``"fig_bk_emd"``, ...) to each
    written path.
    """
    from labquake.analysis.distances import METRICS, distance_matrix
    from labquake.analysis.trees import LINKAGES, NULLS, compare_trees

    root = Path(campaign_dir)
    metrics = tuple(metrics)
    bad = [m for m in metrics if m not in METRICS]
    if bad or not metrics:
        raise ConfigError(f"unknown metric(s) {bad or '(none)'}; use some of {', '.join(METRICS)}")
    if method not in LINKAGES:
        raise ConfigError(f"linkage method {method!r} is unknown; use one of {', '.join(LINKAGES)}")
    if null not in NULLS:
        raise ConfigError(f"null {null!r} is unknown; use one of {', '.join(NULLS)}")
    if int(min_events) < 1:
        raise ConfigError(f"min_events must be >= 1, got {min_events}")
    runs = find_runs(root)

    def too_few_runs() -> InsufficientDataError:
        return InsufficientDataError(
            f"{root}: {len(runs)} complete run(s); the tree comparison needs at least 3 — run more or check the run status")

    if not runs:
        raise too_few_runs()
    adir, fdir = root / "analysis", root / "figures"
    written: dict[str, Path] = {}

    # ---- cycles (every run, whatever the tree mode) -----------------------------------
    cycles = _analyze_cycles(runs, progress=progress, bandwidth=bandwidth, grid=grid, prominence=prominence,
                             max_fault_distance=max_fault_distance, paper_quirks=paper_quirks, n_boot=n_boot,
                             seed=seed, min_events=min_events, per_cycle=per_cycle)
    written.update(_write_cycles(cycles, adir, fdir, figures, n_boot=n_boot, seed=seed))
    if len(runs) < 3 and not per_cycle:
        raise too_few_runs()

    it = runs
    if progress:
        from tqdm import tqdm

        it = tqdm(runs, desc="analyse runs", unit="run")
    per_run = {}
    for rd in it:
        per_run[rd.name] = analyze_run(rd, bandwidth=bandwidth, grid=grid, prominence=prominence,
                                       paper_quirks=paper_quirks, max_fault_distance=max_fault_distance,
                                       n_boot=n_boot, seed=seed)

    # ---- per-run tables ------------------------------------------------------------
    run_rows, ep_tabs, cloud_tabs, stat_rows = [], [], [], []
    included: list[str] = []
    for name, res in per_run.items():
        row = {"run": name, "included": False, "n_foreshock": 0, "n_mainshock": 0, "n_episodes": 0, "reason": ""}
        if res["stats"] is not None:
            stat_rows.append(res["stats"])
        eps = res["episodes"]
        if eps is not None:
            from labquake.analysis.segment import episode_roles

            row["n_episodes"] = len(eps)
            ep_tabs.append(eps.assign(role=episode_roles(eps)).assign(
                start=eps["start"].astype(float), end=eps["end"].astype(float), peak=eps["peak"].astype(float),
                lever_arm=eps["lever_arm"].astype(float)).reindex(
                columns=["episode_id", "start", "end", "peak", "n_events", "is_mainshock", "lever_arm", "role"]
            ).assign(run=name))
        cl = res["clouds"]
        if cl is None:
            row["reason"] = res["error"] or "no clouds"
        else:
            row["n_foreshock"], row["n_mainshock"] = len(cl.foreshock), len(cl.mainshock)
            for which in ("foreshock", "mainshock"):
                cloud_tabs.append(getattr(cl, which).assign(run=name, cloud=which))
            small = [w for w in ("foreshock", "mainshock") if len(getattr(cl, w)) < min_events]
            if small:
                row["reason"] = "; ".join(
                    f"{w} cloud has {len(getattr(cl, w))} event(s), fewer than min_events={min_events}" for w in small)
            else:
                row["included"] = True
                included.append(name)
        run_rows.append(row)

    runs_df = pd.DataFrame(run_rows)
    written["runs"] = atomic_write_parquet(adir / "runs.parquet", runs_df)
    if ep_tabs:
        ep = pd.concat(ep_tabs, ignore_index=True)
        written["episodes"] = atomic_write_parquet(adir / "episodes.parquet", ep[["run"] + [c for c in ep.columns if c != "run"]])
    if stat_rows:
        written["seismicity"] = atomic_write_parquet(adir / "seismicity.parquet", pd.DataFrame(stat_rows))
    if cloud_tabs:
        cl = pd.concat(cloud_tabs, ignore_index=True)
        front = ["run", "cloud"]
        written["clouds"] = atomic_write_parquet(adir / "clouds.parquet", cl[front + [c for c in cl.columns if c not in front]])

    if figures:
        written.update(_run_figures(runs, per_run, fdir, bandwidth, grid))
        if stat_rows:
            from labquake.viz.analysis_figures import save, seismicity_figure

            written["fig_seismicity"] = save(seismicity_figure(pd.DataFrame(stat_rows)), fdir / "seismicity.png")

    if per_cycle:
        clouds = {rc.table.loc[rc.table["cycle"] == k, "leaf"].iloc[0]: cl
                  for rc in cycles.values() for k, cl in rc.clouds.items()
                  if bool(rc.table.loc[rc.table["cycle"] == k, "in_trees"].iloc[0])}
        included = list(clouds)
        if len(included) < 3:
            n_cyc = sum(len(rc.table) for rc in cycles.values())
            raise InsufficientDataError(
                f"{root}: only {len(included)} of {n_cyc} cycle(s) have both clouds with >= {min_events} events "
                "(the per-cycle trees need 3); see analysis/cycles.parquet (notes) or analyse per run")
    elif len(included) < 3:
        excl = "; ".join(f"{r['run']}: {r['reason']}" for r in run_rows if not r["included"])
        raise InsufficientDataError(
            f"{root}: only {len(included)} run(s) have both clouds with >= {min_events} events (need 3); "
            f"excluded: {excl or 'none'}")
    else:
        clouds = {n: per_run[n]["clouds"] for n in included}

    # ---- distances and trees --------------------------------------------------------
    dist_tabs, link_tabs, bk_tabs = [], [], []
    mats = {}
    for metric in metrics:
        D = {}
        for which in ("foreshock", "mainshock"):
            D[which] = distance_matrix([getattr(clouds[n], which) for n in included], metric, n_jobs=n_jobs,
                                       min_points=min_events, names=[f"{n} {which}" for n in included])
            dist_tabs.append(_matrix_rows(D[which], included, metric, which))
        bk = compare_trees(D["foreshock"], D["mainshock"], method=method, null=null, n_perm=n_perm, seed=seed,
                           square_quirk=square_quirk)
        link_tabs.append(_linkage_rows(bk.attrs["Z_a"], metric, "foreshock"))
        link_tabs.append(_linkage_rows(bk.attrs["Z_b"], metric, "mainshock"))
        bk_tabs.append(bk.assign(metric=metric, method=method))
        mats[metric] = (D, bk)

    written["distances"] = atomic_write_parquet(adir / "distances.parquet", pd.concat(dist_tabs, ignore_index=True))
    written["linkage"] = atomic_write_parquet(adir / "linkage.parquet", pd.concat(link_tabs, ignore_index=True))
    bk_all = pd.concat([b.reset_index(drop=True) for b in bk_tabs], ignore_index=True)
    bk_all.attrs = {}
    front = ["metric", "method"]
    written["bk"] = atomic_write_parquet(adir / "bk.parquet", bk_all[front + [c for c in bk_all.columns if c not in front]])

    if figures:
        from labquake.viz.analysis_figures import bk_figure, dendrogram_figure, distance_figure, save

        for metric, (D, bk) in mats.items():
            written[f"fig_dendrograms_{metric}"] = save(
                dendrogram_figure(bk.attrs["Z_a"], bk.attrs["Z_b"], included, metric, method),
                fdir / f"dendrograms_{metric}.png")
            written[f"fig_distances_{metric}"] = save(
                distance_figure(D["foreshock"], D["mainshock"], included, metric), fdir / f"distances_{metric}.png")
            written[f"fig_bk_{metric}"] = save(bk_figure(bk, metric), fdir / f"bk_{metric}.png")
    return written


def _analyze_cycles(runs, *, progress: bool, **kwargs) -> dict:
    """run name -> :class:`labquake.analysis.cycle_stats.RunCycles` of every run."""
    from labquake.analysis.cycle_stats import analyze_run_cycles

    it = runs
    if progress:
        from tqdm import tqdm

        it = tqdm(runs, desc="analyse cycles", unit="run")
    return {rd.name: analyze_run_cycles(rd, **kwargs) for rd in it}


def _write_cycles(cycles: dict, adir: Path, fdir: Path, figures: bool, *, n_boot: int, seed: int) -> dict[str, Path]:
    """``cycles.parquet`` (always), ``b_cycle.parquet`` (empty when no complete cycle has
    events before its mainshock), the per-cycle episodes and clouds, ``b_cycle.png``."""
    from labquake.analysis.cycle_stats import b_through_cycle, empty_b_cycle, empty_cycles
    from labquake.analysis.segment import episode_roles

    out: dict[str, Path] = {}
    tabs = [rc.table for rc in cycles.values() if len(rc.table)]
    table = pd.concat(tabs, ignore_index=True) if tabs else empty_cycles()
    out["cycles"] = atomic_write_parquet(adir / "cycles.parquet", table)
    bev = [rc.b_events for rc in cycles.values() if len(rc.b_events)]
    bc = b_through_cycle(pd.concat(bev, ignore_index=True), n_boot=n_boot, seed=seed) if bev else empty_b_cycle()
    out["b_cycle"] = atomic_write_parquet(adir / "b_cycle.parquet", bc)
    eps, cls = [], []
    for run, rc in cycles.items():
        for k, e in rc.episodes.items():
            eps.append(e.assign(role=episode_roles(e), start=e["start"].astype(float), end=e["end"].astype(float),
                                peak=e["peak"].astype(float), lever_arm=e["lever_arm"].astype(float))
                       .assign(run=run, cycle=int(k)))
        for k, c in rc.clouds.items():
            for which in ("foreshock", "mainshock"):
                cls.append(getattr(c, which).assign(run=run, cycle=int(k), leaf=c.run, cloud=which))
    if eps:
        ep = pd.concat(eps, ignore_index=True)
        ep.attrs = {}
        out["cycle_episodes"] = atomic_write_parquet(adir / "cycle_episodes.parquet",
                                                     ep[["run", "cycle"] + [c for c in ep.columns if c not in ("run", "cycle")]])
    if cls:
        cl = pd.concat(cls, ignore_index=True)
        front = ["run", "cycle", "leaf", "cloud"]
        out["cycle_clouds"] = atomic_write_parquet(adir / "cycle_clouds.parquet", cl[front + [c for c in cl.columns if c not in front]])
    if figures and np.isfinite(bc["b"].to_numpy(float)).any():
        from labquake.viz.analysis_figures import save
        from labquake.viz.cycle_figures import b_cycle_figure

        out["fig_b_cycle"] = save(b_cycle_figure(bc), fdir / "b_cycle.png")
    return out


def _run_figures(runs, per_run, fdir: Path, bandwidth, grid) -> dict[str, Path]:
    from labquake.analysis.segment import kdf
    from labquake.viz.analysis_figures import kdf_figure, loading_figure, save

    out: dict[str, Path] = {}
    for rd in runs:
        eps = per_run[rd.name]["episodes"]
        if eps is None:
            continue
        cr = rd.read_table("cracks", columns=["step", "kind"])
        steps = cr.loc[cr["kind"].astype(str) == "fault", "step"].to_numpy()
        span = (float(eps["start"].iloc[0]), float(eps["end"].iloc[-1]))
        g, d = kdf(steps, eps.attrs.get("bandwidth", bandwidth), grid, span=span)
        out[f"fig_kdf_{rd.name}"] = save(kdf_figure(g, d, eps, rd.name), fdir / f"kdf_{_safe(rd.name)}.png")
        if rd.has_table("loading"):
            lo = rd.read_table("loading", columns=["step", "differential_stress"])
            out[f"fig_loading_{rd.name}"] = save(loading_figure(lo, eps, rd.name), fdir / f"loading_{_safe(rd.name)}.png")
    return out

