"""Scoring the four forecasts on records (simulated runs or the Okubo experiment).

Every function here takes a list of :class:`~labquake.analysis.forecast.data.Record` and returns a
*skill entry*: a dict with ``data`` (``"simulated"`` or ``"okubo"``), ``applies``,
``score`` and ``baseline`` (with their names and whether higher is better), ``n`` and
``n_unit`` (mainshocks, windows or true events), and details. Where a method does not
apply to the data, ``applies`` is false and ``reason`` says why. Figures are returned as
matplotlib figures under ``"figures"`` (name -> figure) and written by the caller.

Folds and settings are fixed before any score is computed: groups are the runs (cycles
with ``group_by="cycle"``); window lengths are fixed fractions of the median cycle length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from labquake.errors import InsufficientDataError
from labquake.analysis.forecast import consensus as cs
from labquake.analysis.forecast import evt
from labquake.analysis.forecast.data import Record
from labquake.analysis.forecast.precursor import GNSS_THRESHOLD, molchan, trend_departure
from labquake.analysis.forecast.ttf import catalog_windows, score_ttf

__all__ = ["evt_skill", "precursor_skill", "ttf_skill", "consensus_skill", "not_applicable", "median_cycle"]


def not_applicable(method: str, data: str, reason: str) -> dict:
    """The skill entry of a method that does not apply to a data set."""
    return {"method": method, "data": data, "applies": False, "reason": reason, "score": None, "baseline": None,
            "n": 0}


def median_cycle(records: Sequence[Record]) -> float:
    """Median cycle length over every record (the time scale of the windows)."""
    b = np.concatenate([r.cycle_bounds() for r in records])
    return float(np.median(b[:, 1] - b[:, 0]))


def _data(records: Sequence[Record]) -> str:
    return records[0].data if records else "simulated"


# --------------------------------------------------------------------------------------
# EVT
# --------------------------------------------------------------------------------------


def evt_rows(records: Sequence[Record], *, alpha: float = 0.1, min_events: int = 3) -> tuple[pd.DataFrame, dict]:
    """One row per mainshock: bounds from its foreshocks and its next record-breaking event.

    Returns ``(rows, skipped)``: ``skipped`` counts mainshocks left out by reason, and under
    ``"_mainshocks"`` holds, for every mainshock with enough foreshocks, the largest
    magnitude from its onset to the next onset (``m_main``) and whether it lies in the bounds
    (a mainshock smaller than its largest foreshock breaks no record and lies below ``M_LE``).
    """
    rows, main_rows = [], []
    skipped = {"too few foreshock magnitudes": 0, "record not broken in the cycle": 0}
    for rec in records:
        ev = rec.events.loc[np.isfinite(rec.events["mw"].to_numpy(float))]
        et, mw = ev["time"].to_numpy(float), ev["mw"].to_numpy(float)
        bounds = rec.cycle_bounds()
        for i, (cyc, (c0, onset)) in enumerate(zip(rec.mainshocks["cycle"].to_numpy(), bounds)):
            stop = bounds[i + 1, 1] if i + 1 < len(bounds) else np.inf
            fore = mw[(et >= c0) & (et < onset)]
            if fore.size < min_events:
                skipped["too few foreshock magnitudes"] += 1
                continue
            b = evt.record_bounds(fore, alpha=alpha, min_events=min_events)
            later = (et >= onset) & (et < stop)
            m_main = float(mw[later].max()) if later.any() else np.nan
            main_rows.append({"run": rec.name, "cycle": int(cyc), "m_main": m_main,
                              "inside": bool(b.m_le <= m_main <= b.m_ue)})
            after = np.flatnonzero(later & (mw > b.record))
            if after.size == 0:
                skipped["record not broken in the cycle"] += 1
                continue
            m_next = float(mw[after[0]])
            rows.append({"run": rec.name, "cycle": int(cyc), "n_foreshocks": int(fore.size), "record": b.record,
                         "b": b.b, "m_le": b.m_le, "m_ue": b.m_ue, "m_next": m_next, "s": b.s, "n_exc": b.n,
                         "z": evt.normalised_record(m_next, b), "pit_pivot": float(b.cdf(m_next)),
                         "_bounds": b})
    skipped["_mainshocks"] = pd.DataFrame(main_rows)
    return pd.DataFrame(rows), skipped


def sequence_rows(record: Record, *, alpha: float = 0.1, min_events: int = 5,
                  foreshocks_only: bool = False) -> pd.DataFrame:
    """Rows like :func:`evt_rows` for each record-breaking event of a magnitude sequence,
    forecast from every event before it: the whole catalog (laboratory catalogs with no
    mainshock magnitude), or with ``foreshocks_only`` each cycle's foreshocks."""
    ev = record.events.loc[np.isfinite(record.events["mw"].to_numpy(float))].sort_values("time", kind="stable")
    et, mw_all = ev["time"].to_numpy(float), ev["mw"].to_numpy(float)
    spans = record.cycle_bounds() if foreshocks_only else np.array([[-np.inf, np.inf]])
    rows = []
    for c, (c0, c1) in enumerate(spans):
        mw = mw_all[(et >= c0) & (et < c1)]
        for r in range(min_events, mw.size):
            if mw[r] > mw[:r].max():
                b = evt.record_bounds(mw[:r], alpha=alpha, min_events=min_events)
                rows.append({"run": record.name, "cycle": c, "index": r, "n_foreshocks": r, "record": b.record,
                             "b": b.b, "m_le": b.m_le, "m_ue": b.m_ue, "m_next": float(mw[r]), "s": b.s, "n_exc": b.n,
                             "z": evt.normalised_record(mw[r], b), "pit_pivot": float(b.cdf(mw[r])), "_bounds": b})
    return pd.DataFrame(rows)


def _score_evt_rows(rows: pd.DataFrame, group_col: str) -> pd.DataFrame:
    """Leave-one-group-out GEV and climatology forecasts of each row's next record."""
    out = rows.copy()
    groups = out[group_col].to_numpy()
    gev_src, pit_gev, crps_gev, crps_pivot, crps_clim = [], [], [], [], []
    laws = {g: evt.fit_gev(out.loc[groups != g, "z"].to_numpy()) for g in pd.unique(groups)}  # one fit per fold
    for i, row in out.iterrows():
        train = out.loc[groups != row[group_col]]
        law, src = laws[row[group_col]]
        b = row["_bounds"]
        w = b.m_ue - b.m_le
        gev_src.append(src)
        pit_gev.append(float(law.cdf(row["z"])))
        crps_gev.append(evt.crps(lambda p, law=law, b=b, w=w: b.m_le + w * law.ppf(p), row["m_next"]))
        crps_pivot.append(evt.crps(b.ppf, row["m_next"]))
        crps_clim.append(evt.crps_ensemble(train["m_next"].to_numpy(), row["m_next"]))
    return out.assign(gev=gev_src, pit_gev=pit_gev, crps_gev=crps_gev, crps_pivot=crps_pivot,
                      crps_climatology=crps_clim)


def _gev_params(z) -> dict | None:
    """GEV fitted to every normalised record, in the field's sign convention (k = -c)."""
    law, src = evt.fit_gev(z)
    if src != "fitted":
        return None
    return {"k": float(-law.kwds["c"]), "sigma": float(law.kwds["scale"]), "mu": float(law.kwds["loc"])}


def evt_skill(records: Sequence[Record], *, alpha: float = 0.1, min_events: int = 3, sequence: bool = False) -> dict:
    """Skill of the next-record forecasts (CRPS of the GEV forecast against climatology).

    ``sequence=True`` scores every record-breaking event of each record's magnitude
    sequence instead of the mainshocks (laboratory catalogs without mainshock magnitudes).
    """
    data = _data(records)
    mains = None
    if sequence:
        rows = pd.concat([sequence_rows(r, alpha=alpha, min_events=max(min_events, 5)) for r in records],
                         ignore_index=True)
        skipped, group_col = {}, "index"
    else:
        rows, skipped = evt_rows(records, alpha=alpha, min_events=min_events)
        mains = skipped.pop("_mainshocks")
        group_col = "run" if rows.empty or rows["run"].nunique() > 1 else "cycle"
    if len(rows) < 2:
        return not_applicable("evt", data, f"{len(rows)} scorable next record(s) (need 2): "
                              + "; ".join(f"{k}: {v}" for k, v in skipped.items() if v))
    sc = _score_evt_rows(rows, group_col)
    fore_cov = fore_n = None
    if not sequence:  # the records set inside the foreshock sequences: more, smaller tests of the bounds
        fr = pd.concat([sequence_rows(r, alpha=alpha, min_events=max(min_events, 5), foreshocks_only=True)
                        for r in records], ignore_index=True)
        if len(fr):
            fore_cov = float(((fr["m_next"] >= fr["m_le"]) & (fr["m_next"] <= fr["m_ue"])).mean())
            fore_n = int(len(fr))
    inside = (sc["m_next"] >= sc["m_le"]) & (sc["m_next"] <= sc["m_ue"])
    n = len(sc)
    fig = _evt_figure(sc, alpha, data)
    return {
        "method": "evt", "data": data, "applies": True,
        "score": float(sc["crps_gev"].mean()), "score_name": "mean CRPS of the GEV next-record forecast [magnitude]",
        "baseline": float(np.nanmean(sc["crps_climatology"])),
        "baseline_name": "mean CRPS of climatology (the other groups' next records)",
        "higher_is_better": False, "n": n, "n_unit": "records" if sequence else "mainshocks",
        "crps_pivot": float(sc["crps_pivot"].mean()),
        "coverage": float(inside.mean()), "coverage_nominal": 1.0 - alpha,
        "coverage_se": float(np.sqrt(alpha * (1 - alpha) / n)),
        "coverage_foreshock_records": fore_cov, "n_foreshock_records": fore_n,
        "coverage_mainshocks": float(mains["inside"].mean()) if not sequence and len(mains) else None,
        "n_mainshocks_bounded": int(len(mains)) if not sequence else None,
        "gev_fitted_share": float(np.mean(sc["gev"] == "fitted")),
        "gev_all": _gev_params(sc["z"].to_numpy()), "gev_field": dict(evt.FIELD_GEV),
        "skipped": {k: v for k, v in skipped.items() if v}, "groups": group_col,
        "table": sc.drop(columns="_bounds"), "figures": {"evt": fig},
    }


# --------------------------------------------------------------------------------------
# Precursor
# --------------------------------------------------------------------------------------


def _cycle_samples(rec: Record, t: np.ndarray, values: np.ndarray):
    """Valid (finite, inside a cycle) samples with their durations, and each onset's value."""
    b = rec.cycle_bounds()
    dt = np.diff(t, append=t[-1] + (np.median(np.diff(t)) if t.size > 1 else 1.0))
    k = np.searchsorted(b[:, 1], t, side="right")  # cycle whose onset is the next one
    inside = (k < len(b)) & (t >= b[np.minimum(k, len(b) - 1), 0])
    ok = inside & np.isfinite(values)
    i_on = np.searchsorted(t, b[:, 1], side="left") - 1
    on_val = np.where((i_on >= 0) & (t[np.maximum(i_on, 0)] >= b[:, 0]), values[np.maximum(i_on, 0)], np.nan)
    # samples far (> lead) from their onset: the "no precursor expected" time
    return values[ok], dt[ok], on_val, t[ok], b[np.minimum(k, len(b) - 1), 1][ok]


def precursor_skill(records: Sequence[Record], *, series: Sequence[str] = ("axial_strain", "fault_slip"),
                    window_fraction: float = 0.2, lead_fraction: float = 0.25,
                    threshold: float = GNSS_THRESHOLD) -> dict:
    """Molchan skill of trend-departure alarms on the loading record, per series.

    The trend window is ``window_fraction`` of the median cycle length and the lead
    ``lead_fraction`` of the window (both fixed before scoring). The headline score is the
    area skill of the first series, against the random-guess 0.5.
    """
    data = _data(records)
    recs = [r for r in records if r.loading is not None]
    if not recs:
        return not_applicable("precursor", data, "no loading record")
    window = window_fraction * median_cycle(recs)
    lead = lead_fraction * window
    per = {}
    for name in series:
        vals, wts, onv, far = [], [], [], []
        for rec in recs:
            if name not in rec.loading.columns:
                continue
            t = rec.loading["time"].to_numpy(float)
            d = trend_departure(t, rec.loading[name].to_numpy(float), window=window, lead=lead,
                                onsets=rec.mainshocks["onset"].to_numpy(float))
            v, w, o, ts, next_on = _cycle_samples(rec, t, d)
            vals.append(v), wts.append(w), onv.append(o), far.append(next_on - ts > lead)
        if not vals:
            continue
        v, w, o, f = map(np.concatenate, (vals, wts, onv, far))
        try:
            m = molchan(v, o, w)
        except InsufficientDataError as exc:
            per[name] = {"error": str(exc)}
            continue
        fa = float(np.sum(w[f] * (v[f] >= threshold)) / np.sum(w[f])) if f.any() else float("nan")
        per[name] = {"area_skill": m.skill, "area_se": m.area_se, "hit_rate": float(np.mean(o >= threshold)),
                     "false_alarm_rate": fa, "time_in_alarm": float(np.sum(w * (v >= threshold)) / np.sum(w)),
                     "n": m.n_targets, "_molchan": m}
    good = [k for k in per if "_molchan" in per[k]]
    if not good:
        return not_applicable("precursor", data, "; ".join(f"{k}: {v['error']}" for k, v in per.items()) or
                              f"the loading record has none of {list(series)}")
    head = per[good[0]]
    fig = _molchan_figure({k: per[k]["_molchan"] for k in good}, data)
    return {
        "method": "precursor", "data": data, "applies": True,
        "score": head["area_skill"], "score_name": f"Molchan area skill of {good[0]} trend departure (1 - area)",
        "baseline": 0.5, "baseline_name": "random guess (the Molchan diagonal)", "baseline_se": head["area_se"],
        "higher_is_better": True, "n": head["n"], "n_unit": "mainshocks", "threshold": threshold,
        "window": window, "lead": lead,
        "series": {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")} for k, v in per.items()},
        "figures": {"precursor": fig},
    }


def pick_alarm_skill(record: Record, *, grid: float | None = None, alarm: float = 0.1) -> dict:
    """Molchan skill of AE alarms on a pick catalog: the alarm value at ``t`` is minus the
    time since the last pick (an alarm of duration ``τ`` follows each pick)."""
    t_ev = np.sort(record.events["time"].to_numpy(float))
    b = record.cycle_bounds()
    grid = grid or float(np.median(b[:, 1] - b[:, 0])) / 2000.0
    ts = np.concatenate([np.arange(c0, on, grid) for c0, on in b])
    j = np.searchsorted(t_ev, ts, side="left") - 1  # last pick strictly before t
    val = np.where(j >= 0, -(ts - t_ev[np.maximum(j, 0)]), -np.inf)
    jo = np.searchsorted(t_ev, b[:, 1], side="left") - 1
    on_val = np.where(jo >= 0, -(b[:, 1] - t_ev[np.maximum(jo, 0)]), -np.inf)
    on_val = np.where(np.isfinite(on_val), on_val, np.nan)
    val = np.where(np.isfinite(val), val, -1e300)
    m = molchan(val, on_val)
    far = np.concatenate([on - np.arange(c0, on, grid) > alarm for c0, on in b])
    fig = _molchan_figure({"time since last pick": m}, record.data)
    return {
        "method": "precursor", "data": record.data, "applies": True,
        "score": m.skill, "score_name": "Molchan area skill of AE-pick alarms (1 - area)",
        "baseline": 0.5, "baseline_name": "random guess (the Molchan diagonal)", "baseline_se": m.area_se,
        "higher_is_better": True, "n": m.n_targets, "n_unit": "mainshocks",
        "hit_rate": float(np.mean(on_val >= -alarm)), "alarm_duration": alarm,
        "false_alarm_rate": float(np.mean(val[far] >= -alarm)), "time_in_alarm": float(np.mean(val >= -alarm)),
        "note": ("the data hold only the shear stress just before and after each stick-slip, no continuous "
                 "record, so the trend-departure test on stress cannot run; the alarms come from the AE picks, "
                 "which were searched for around each stick-slip, so quiet stretches may be under-picked and "
                 "the skill is likely optimistic"),
        "figures": {"precursor": fig},
    }


# --------------------------------------------------------------------------------------
# Time to failure
# --------------------------------------------------------------------------------------


def ttf_skill(records: Sequence[Record], *, window_fraction: float = 0.1, group_by: str = "run", seed: int = 0,
              n_shuffle: int = 1, n_jobs: int | None = None) -> dict:
    """Leave-one-group-out R² of gradient boosting against climatology (see :mod:`.ttf`)."""
    data = _data(records)
    window = window_fraction * median_cycle(records)
    win = pd.concat([catalog_windows(r, window, window / 2.0, group_by=group_by) for r in records], ignore_index=True)
    res = score_ttf(win, seed=seed, n_shuffle=n_shuffle, n_jobs=n_jobs)
    fig = _ttf_figure(res, data, records[0].unit)
    return {
        "method": "ttf", "data": data, "applies": True,
        "score": res["gbr"]["r2"], "score_name": "out-of-fold R² of gradient boosting",
        "baseline": res["climatology"]["r2"], "baseline_name": "R² of climatology (mean recurrence - elapsed)",
        "higher_is_better": True, "n": res["n_windows"], "n_unit": "windows", "n_groups": res["n_groups"],
        "groups": group_by, "window": window, "unit": records[0].unit,
        "mae": res["gbr"]["mae"], "linear": res["linear"], "climatology": res["climatology"],
        "shuffled": res["shuffled"], "importance": res["importance"],
        "table": res["predictions"], "figures": {"ttf": fig},
    }


# --------------------------------------------------------------------------------------
# Consensus
# --------------------------------------------------------------------------------------


def _detections(rec: Record, k_sigma: float) -> dict[str, np.ndarray]:
    lo = rec.loading.loc[rec.loading["time"] >= rec.start]
    t = lo["time"].to_numpy(float)
    # kinetic energy stays raised after a burst (little damping): detect its jumps, the
    # sample-to-sample increments of log10 KE; slip bursts from the slip rate itself
    ke = np.log10(np.maximum(lo["kinetic_energy"].to_numpy(float), 1e-30))
    jump = np.concatenate([[np.nan], np.diff(ke)])
    rate = np.gradient(lo["fault_slip"].to_numpy(float), t) if t.size > 1 else np.zeros_like(t)
    et = rec.events["time"].to_numpy(float)
    return {"catalog": et[et >= rec.start],
            "kinetic": cs.burst_times(t, jump, cs.robust_threshold(jump, k_sigma)),
            "slip": cs.burst_times(t, rate, cs.robust_threshold(rate, k_sigma))}


def consensus_skill(records: Sequence[Record], *, k_sigma: float = 3.0,
                    k_grid: Sequence[float] = (1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0), votes: int = 2) -> dict:
    """Miss and false rates of three detectors and their 2-of-3 consensus (F1 against the best
    single detector), pooled over the records; the trade-off curve over ``k_grid``."""
    data = _data(records)
    recs = [r for r in records if r.loading is not None and r.cracks is not None
            and {"kinetic_energy", "fault_slip"} <= set(r.loading.columns)]
    if not recs:
        return not_applicable("consensus", data, "needs kinetic-energy and fault-slip records and a crack catalog")
    curve = []
    for k in sorted(set(k_grid) | {k_sigma}):
        tot: dict[str, np.ndarray] = {}
        for rec in recs:
            tol = 2.0 * float(np.median(np.diff(rec.loading["time"].to_numpy(float))))
            gap = rec.ae_window if rec.ae_window else tol / 2.0
            truth = cs.crack_bursts(rec.cracks[rec.cracks >= rec.start], gap)
            det = _detections(rec, k)
            det["consensus"] = cs.coincidence({n: det[n] for n in ("catalog", "kinetic", "slip")}, tol, votes)
            for name, d in det.items():
                p, nd, ng = cs.match(d, truth, tol)
                tot[name] = tot.get(name, np.zeros(3)) + (p, nd, ng)
        for name, (p, nd, ng) in tot.items():
            curve.append({"k_sigma": k, "detector": name, "miss_rate": 1 - p / ng if ng else np.nan,
                          "false_rate": 1 - p / nd if nd else 0.0, "f1": 2 * p / (nd + ng) if nd + ng else np.nan,
                          "n_detected": int(nd), "n_truth": int(ng)})
    curve = pd.DataFrame(curve)
    at = curve.loc[curve["k_sigma"] == k_sigma].set_index("detector")
    singles = at.drop(index="consensus")
    best = singles["f1"].idxmax()
    fig = _consensus_figure(curve, k_sigma, data)
    return {
        "method": "consensus", "data": data, "applies": True,
        "score": float(at.loc["consensus", "f1"]), "score_name": "F1 of the 2-of-3 consensus against crack bursts",
        "baseline": float(singles.loc[best, "f1"]), "baseline_name": f"F1 of the best single detector ({best})",
        "higher_is_better": True, "n": int(at.loc["consensus", "n_truth"]), "n_unit": "true events (crack bursts)",
        "k_sigma": k_sigma,
        "detectors": {d: {c: float(at.loc[d, c]) for c in ("miss_rate", "false_rate", "f1", "n_detected")}
                      for d in at.index},
        "table": curve, "figures": {"consensus": fig},
    }


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------


def _fig(*a, **k):
    from matplotlib.figure import Figure

    return Figure(*a, **k)


def _evt_figure(sc: pd.DataFrame, alpha: float, data: str):
    fig = _fig(figsize=(9, 3.6))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.88, wspace=0.28)
    a1, a2 = fig.subplots(1, 2)
    for col, lab in (("pit_gev", "GEV (normalised)"), ("pit_pivot", "GR pivot")):
        lv, ob = evt.reliability(sc[col].to_numpy())
        a1.plot(lv, ob, "o-", label=lab)
    a1.plot([0, 1], [0, 1], "k:", lw=1, label="perfect")
    a1.set(xlabel="forecast probability (nominal level)", ylabel="observed share", title="calibration")
    a1.legend(fontsize=8)
    z = sc["z"].to_numpy(float)
    a2.hist(z, bins=max(5, min(30, z.size // 2)), density=True, color="0.7", label="observed z")
    xs = np.linspace(min(-0.5, z.min()), max(1.5, z.max()), 300)
    a2.plot(xs, evt.field_distribution("gev").pdf(xs), label="field GEV")
    a2.plot(xs, evt.field_distribution("lognormal").pdf(xs), "--", label="field lognormal")
    a2.axvspan(0, 1, color="tab:green", alpha=0.08, label=f"[M_LE, M_UE] ({1 - alpha:.0%})")
    a2.set(xlabel="normalised next record z", ylabel="density", title=f"{len(z)} next records ({data})")
    a2.legend(fontsize=8)
    return fig


def _molchan_figure(results: dict, data: str):
    fig = _fig(figsize=(4.6, 4.2))
    fig.subplots_adjust(left=0.15, right=0.97, bottom=0.13, top=0.9)
    ax = fig.subplots()
    for name, m in results.items():
        ax.step(m.tau, m.nu, where="post", label=f"{name} (skill {m.skill:.2f})")
    ax.plot([0, 1], [1, 0], "k:", lw=1, label="random guess")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="fraction of time in alarm τ", ylabel="miss rate ν",
           title=f"Molchan diagram ({data})")
    ax.legend(fontsize=8)
    return fig


def _ttf_figure(res: dict, data: str, unit: str):
    fig = _fig(figsize=(9, 3.6))
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.15, top=0.88, wspace=0.5)
    a1, a2 = fig.subplots(1, 2)
    p = res["predictions"]
    a1.scatter(p["ttf"], p["gbr"], s=8, label=f"gradient boosting (R² {res['gbr']['r2']:.2f})")
    a1.scatter(p["ttf"], p["climatology"], s=8, marker="x", label=f"climatology (R² {res['climatology']['r2']:.2f})")
    lim = [0, float(p["ttf"].max())]
    a1.plot(lim, lim, "k:", lw=1)
    a1.set(xlabel=f"true time to failure [{unit}]", ylabel=f"predicted [{unit}]", title=f"out of fold ({data})")
    a1.legend(fontsize=8)
    imp = list(res["importance"].items())[:10][::-1]
    a2.barh([k for k, _ in imp], [v for _, v in imp], color="tab:blue")
    a2.set(xlabel="importance", title="feature importance (top 10)")
    return fig


def _consensus_figure(curve: pd.DataFrame, k_sigma: float, data: str):
    fig = _fig(figsize=(4.8, 4.2))
    fig.subplots_adjust(left=0.15, right=0.97, bottom=0.13, top=0.9)
    ax = fig.subplots()
    for name, g in curve.groupby("detector", sort=False):
        ax.plot(g["false_rate"], g["miss_rate"], "o-", ms=3, label=name)
        at = g.loc[g["k_sigma"] == k_sigma]
        ax.plot(at["false_rate"], at["miss_rate"], "ks", ms=5, mfc="none")
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="false rate", ylabel="miss rate",
           title=f"detectors and 2-of-3 consensus ({data})")
    ax.legend(fontsize=8, title=f"squares: k = {k_sigma:g}", title_fontsize=8)
    return fig
