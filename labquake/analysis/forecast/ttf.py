"""Time to failure from windows of catalog features, scored against baselines.

Windows (:func:`catalog_windows`)
---------------------------------
In each cycle (see :class:`labquake.analysis.forecast.data.Record`) windows ``[t - window, t)`` end at
``t = onset - stride, onset - 2·stride, ...`` while they fit in the cycle. Features use only
events (and contact samples) inside the window, so only the past:

* ``rate`` (events per unit time), ``log_moment`` (log10 of the summed M0, N·m),
  ``mean_mw``, ``max_mw``;
* ``b`` (Aki–Utsu with Mc the window's smallest magnitude, :func:`labquake.analysis.seismicity.b_value`;
  NaN below 10 events), ``d2`` (:func:`labquake.analysis.seismicity.correlation_dimension`, 3-D; NaN
  when it cannot be computed);
* the clouds' features that do not look ahead: mean ``radius`` and ``mw`` (above), the log
  mean inter-event time (for the clouds' ``time``) and the mean distance to the window's
  centroid (for ``distance``). The clouds' ``time``, ``distance`` and ``direction`` are
  measured from the mainshock itself, so they would hand the answer to the regressor;
  ``direction`` has no causal analogue and is left out;
* the contact-force statistics of :mod:`labquake.analysis.grains`' monitored contacts at the last
  sample in the window and their change over it: mean normal force ``fn``, mean shear force
  ``fs``, mean mobilised friction ``fs/fn`` and the share of broken contacts.

The target is ``ttf = onset - t``. ``elapsed = t - cycle start`` is kept for the
climatology baseline only (it is not a feature).

Scores (:func:`score_ttf`)
--------------------------
Out-of-fold predictions from leave-one-group-out cross-validation (groups: runs, or
run-cycles; with more than ``max_folds`` groups, :class:`sklearn.model_selection.GroupKFold`
with ``max_folds`` folds of whole groups), folds fixed before any fit:

* ``gbr``: :class:`sklearn.ensemble.GradientBoostingRegressor` (median imputation);
* ``linear``: ridge regression on standardised, median-imputed features;
* ``climatology``: ``max(mean recurrence of the training cycles - elapsed, 0)``;
* ``shuffled``: the gradient boosting trained and scored on a permuted target (mean of
  ``n_shuffle`` permutations): the score of a model that learns nothing real.

R² and MAE over all out-of-fold predictions; feature importances of the gradient boosting
fitted on every window.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from labquake.errors import ConfigError, InsufficientDataError

__all__ = ["FEATURES", "window_features", "catalog_windows", "score_ttf"]

EVENT_FEATURES = ("rate", "log_moment", "mean_mw", "max_mw", "b", "d2", "radius", "log_interevent", "spread")
CONTACT_FEATURES = ("fn", "fs", "friction", "broken", "d_fn", "d_fs", "d_friction", "d_broken")
FEATURES = EVENT_FEATURES + CONTACT_FEATURES


def window_features(ev: pd.DataFrame, window: float, *, min_b_events: int = 10) -> dict[str, float]:
    """Event features of one window's events (columns ``time``, ``mw``, ``m0``; optional
    ``x, y, z, radius``)."""
    from labquake.analysis.seismicity import b_value, correlation_dimension

    n = len(ev)
    f = dict.fromkeys(EVENT_FEATURES, np.nan)
    f["rate"] = n / window
    mw = ev["mw"].to_numpy(float) if "mw" in ev.columns else np.empty(0)
    mw = mw[np.isfinite(mw)]
    m0 = ev["m0"].to_numpy(float) if "m0" in ev.columns else np.empty(0)
    m0 = m0[np.isfinite(m0)]
    f["log_moment"] = float(np.log10(m0.sum())) if m0.size and m0.sum() > 0 else np.nan
    if mw.size:
        f["mean_mw"], f["max_mw"] = float(mw.mean()), float(mw.max())
    if mw.size >= min_b_events and np.ptp(mw) > 0:
        f["b"] = b_value(mw, "aki", mc=None, min_events=min_b_events).b
    if n >= 2:
        f["log_interevent"] = float(np.log10(np.mean(np.diff(ev["time"].to_numpy(float))) + 1e-300))
    if {"x", "y", "z"} <= set(ev.columns) and n >= 1:
        p = ev[["x", "y", "z"]].to_numpy(float)
        f["spread"] = float(np.mean(np.linalg.norm(p - p.mean(axis=0), axis=1)))
        if n >= 10:
            try:
                f["d2"] = correlation_dimension(p, min_pairs=10).d2
            except InsufficientDataError:
                pass
    if "radius" in ev.columns and n:
        f["radius"] = float(ev["radius"].to_numpy(float).mean())
    return f


def _contact_state(ca: dict, i: int) -> tuple[float, float, float, float]:
    fn, fs, br = ca["fn"][:, i], ca["fs"][:, i], ca["broken"][:, i]
    with np.errstate(invalid="ignore", divide="ignore"):
        fr = np.where(np.abs(fn) > 0, fs / np.abs(fn), np.nan)
    return (float(np.nanmean(fn)), float(np.nanmean(fs)),
            float(np.nanmean(fr)) if np.isfinite(fr).any() else np.nan, float(np.mean(br)))


def catalog_windows(record, window: float, stride: float | None = None, *, group_by: str = "run") -> pd.DataFrame:
    """Feature windows of a :class:`~labquake.analysis.forecast.data.Record` (module docstring).

    Returns one row per window: ``run``, ``cycle``, ``group``, ``t_end``, ``ttf``,
    ``elapsed``, ``recurrence`` (the cycle's length) and the :data:`FEATURES`.
    """
    window = float(window)
    stride = window / 2.0 if stride is None else float(stride)
    if not (window > 0 and stride > 0):
        raise ConfigError(f"window and stride must be > 0, got {window!r} and {stride!r}")
    if group_by not in ("run", "cycle"):
        raise ConfigError(f"group_by must be 'run' or 'cycle', got {group_by!r}")
    ev = record.events
    et = ev["time"].to_numpy(float)
    ca = record.contacts
    rows = []
    for (cyc, (c0, onset)) in zip(record.mainshocks["cycle"].to_numpy(), record.cycle_bounds()):
        k = 1
        while onset - k * stride - window >= c0:
            t1 = onset - k * stride
            t0 = t1 - window
            sel = ev.iloc[np.searchsorted(et, t0, "left"):np.searchsorted(et, t1, "left")]
            row = {"run": record.name, "cycle": int(cyc),
                   "group": record.name if group_by == "run" else f"{record.name}:{cyc}",
                   "t_end": t1, "ttf": onset - t1, "elapsed": t1 - c0, "recurrence": onset - c0}
            row.update(window_features(sel, window))
            row.update(dict.fromkeys(CONTACT_FEATURES, np.nan))
            if ca is not None and len(ca["steps"]):
                i1 = int(np.searchsorted(ca["steps"], t1, "left")) - 1
                i0 = int(np.searchsorted(ca["steps"], t0, "left")) - 1
                if i1 >= 0:
                    now = _contact_state(ca, i1)
                    row.update(zip(CONTACT_FEATURES[:4], now))
                    if i0 >= 0:
                        before = _contact_state(ca, i0)
                        row.update(zip(CONTACT_FEATURES[4:], np.subtract(now, before)))
            rows.append(row)
            k += 1
    return pd.DataFrame(rows, columns=["run", "cycle", "group", "t_end", "ttf", "elapsed", "recurrence", *FEATURES])


def _models(seed: int):
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    gbr = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                        GradientBoostingRegressor(n_estimators=100, max_depth=3, learning_rate=0.1, subsample=0.8,
                                                  random_state=seed))
    lin = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), Ridge(alpha=1.0))
    return gbr, lin


def _scores(y, pred) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, r2_score

    return {"r2": float(r2_score(y, pred)), "mae": float(mean_absolute_error(y, pred))}


def score_ttf(windows: pd.DataFrame, features: Sequence[str] | None = None, *, seed: int = 0,
              n_shuffle: int = 1, min_windows: int = 10, max_folds: int = 30, n_jobs: int | None = None) -> dict:
    """Leave-one-group-out scores of the time-to-failure regressors and baselines.

    Returns a dict with ``gbr``, ``linear``, ``climatology``, ``shuffled`` (each ``r2`` and
    ``mae``), ``importance`` (feature -> impurity importance), ``n_windows``, ``n_groups``,
    ``features`` and ``predictions`` (a DataFrame of out-of-fold predictions). ``n_jobs``
    fits the folds in parallel (joblib); the results do not depend on it.

    Raises
    ------
    InsufficientDataError
        Fewer than ``min_windows`` windows, or fewer than 2 groups.
    """
    from sklearn.base import clone
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, cross_val_predict

    if len(windows) < int(min_windows):
        raise InsufficientDataError(
            f"time to failure needs at least {min_windows} windows, got {len(windows)}; use a shorter --window")
    groups = windows["group"].to_numpy()
    n_groups = int(pd.unique(groups).size)
    if n_groups < 2:
        raise InsufficientDataError(
            f"time to failure needs at least 2 runs or cycles for leave-one-out cross-validation, got {n_groups}")
    feats = [f for f in (features or FEATURES) if f in windows.columns and windows[f].notna().any()]
    if not feats:
        raise InsufficientDataError("no window has any feature value: too few events per window")
    X = windows[feats].to_numpy(float)
    y = windows["ttf"].to_numpy(float)
    # folds fixed before any fit: leave one group out, or whole groups in max_folds folds
    splitter = LeaveOneGroupOut() if n_groups <= max_folds else GroupKFold(n_splits=int(max_folds))
    cv = list(splitter.split(X, y, groups))
    gbr, lin = _models(seed)
    p_gbr = cross_val_predict(clone(gbr), X, y, cv=cv, n_jobs=n_jobs)
    p_lin = cross_val_predict(clone(lin), X, y, cv=cv)
    # climatology: mean recurrence of the training cycles minus the elapsed time
    p_clim = np.empty_like(y)
    cyc = windows[["group", "run", "cycle", "recurrence"]].drop_duplicates(["run", "cycle"])
    for train, test in cv:
        tr_groups = set(groups[train])
        mean_rec = cyc.loc[cyc["group"].isin(tr_groups), "recurrence"].mean()
        p_clim[test] = np.maximum(mean_rec - windows["elapsed"].to_numpy(float)[test], 0.0)
    rng = np.random.default_rng(seed)
    shuf = []
    for _ in range(int(n_shuffle)):
        yp = rng.permutation(y)
        shuf.append(_scores(yp, cross_val_predict(clone(gbr), X, yp, cv=cv, n_jobs=n_jobs)))
    full = clone(gbr).fit(X, y)
    imp = full[-1].feature_importances_
    preds = windows[["run", "cycle", "group", "t_end", "ttf", "elapsed"]].assign(
        gbr=p_gbr, linear=p_lin, climatology=p_clim)
    return {
        "gbr": _scores(y, p_gbr), "linear": _scores(y, p_lin), "climatology": _scores(y, p_clim),
        "shuffled": {k: float(np.mean([s[k] for s in shuf])) for k in ("r2", "mae")} if shuf else {},
        "importance": dict(sorted(zip(feats, map(float, imp)), key=lambda kv: -kv[1])),
        "n_windows": int(len(y)), "n_groups": n_groups, "features": feats, "predictions": preds,
    }
