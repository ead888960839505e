"""What the forecasts read: one :class:`Record` per run (or per laboratory experiment).

A record holds the AE catalog, the loading series, the crack times, the monitored contact
forces, and the **mainshocks**: one row per stick-slip with its ``cycle``, ``onset`` and
``end`` (in the record's time unit: steps for simulations, seconds for laboratory data).
Cycle ``k`` runs from the end of mainshock ``k - 1`` (the start of loading for ``k = 0``)
to the onset of mainshock ``k``; its events are the foreshocks of that mainshock.

Mainshocks of a run directory (:func:`find_mainshocks`), in order of preference:

1. ``slips.parquet`` when present: per ``cycle`` (if the column exists) the row marked
   ``is_mainshock``, else the largest ``static_drop``; onset ``step_start``, end ``step_end``.
   Several cycles give several mainshocks per run, with no other change.
2. Otherwise the loading record: the largest fall of the differential stress below its
   running maximum; it is a mainshock if it is at least ``min_drop`` (5 %) of that
   maximum. Onset: the step of the maximum (``meta.json``'s ``peak_step`` when it lies in
   the same rise, as it is sampled at every step); end: the bottom of the fall.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import DataFormatError, InsufficientDataError, RunStateError, SchemaError

__all__ = ["Record", "find_mainshocks", "run_record", "okubo_record", "okubo_table", "is_okubo_dir", "OKUBO_FILES"]

#: files of the Okubo FB03-087 data set (tests/data/okubo-4m-fb03-087)
OKUBO_FILES = {
    "timing": "mainshock_timing_fb03-087.csv",
    "picks": "gouge_event_picks_fb03-087.csv",
    "catalog": "gouge_event_catalog_fb03-087_G3_Q50.csv",
    "stats": "stickslip_macroscopic_stats_fb03-087.csv",
}


@dataclass
class Record:
    """One experiment's data for the forecasts (see the module docstring)."""

    name: str
    unit: str  # "step" or "s"
    start: float  # start of the first cycle
    mainshocks: pd.DataFrame  # cycle, onset, end
    events: pd.DataFrame  # time, mw, m0 (+ x, y, z, radius when known)
    loading: pd.DataFrame | None = None  # time + series (axial_strain, fault_slip, kinetic_energy, ...)
    cracks: np.ndarray | None = None  # crack times
    contacts: dict[str, Any] | None = field(default=None, repr=False)  # labquake.analysis.grains.contact_arrays
    data: str = "simulated"
    ae_window: float | None = None  # time window of the AE clustering (cracks -> events)

    def cycle_bounds(self) -> np.ndarray:
        """(n_mainshocks, 2) array of each cycle's [start, onset)."""
        on = self.mainshocks["onset"].to_numpy(float)
        ends = self.mainshocks["end"].to_numpy(float)
        starts = np.concatenate([[self.start], ends[:-1]])
        return np.column_stack([starts, on])


def _mainshocks_from_slips(slips: pd.DataFrame, source: str) -> pd.DataFrame:
    need = {"step_start", "step_end"}
    if not need <= set(slips.columns):
        raise SchemaError(f"{source}: slips table needs columns {sorted(need)}")
    if slips.empty:
        raise InsufficientDataError(f"{source}: the slips table is empty: no mainshock")
    groups = slips.groupby("cycle", sort=True) if "cycle" in slips.columns else [(0, slips)]
    rows = []
    for cyc, g in groups:
        if "is_mainshock" in g.columns and g["is_mainshock"].astype(bool).any():
            r = g.loc[g["is_mainshock"].astype(bool)].iloc[0]
        elif "static_drop" in g.columns:
            r = g.loc[g["static_drop"].astype(float).idxmax()]
        else:
            continue
        rows.append({"cycle": int(cyc), "onset": float(r["step_start"]), "end": float(r["step_end"])})
    if not rows:
        raise InsufficientDataError(f"{source}: no slip is marked as a mainshock")
    out = pd.DataFrame(rows).sort_values("onset", kind="stable").reset_index(drop=True)
    out["cycle"] = np.arange(len(out))
    return out


def find_mainshocks(loading: pd.DataFrame, *, min_drop: float = 0.05, peak_step: float | None = None,
                    slips: pd.DataFrame | None = None, source: str = "run") -> pd.DataFrame:
    """The mainshocks of a run: a table ``cycle, onset, end`` (see the module docstring).

    Raises
    ------
    InsufficientDataError
        No mainshock: no slip table and no stress fall of at least ``min_drop`` of the peak.
    """
    if slips is not None:
        return _mainshocks_from_slips(slips, source)
    for c in ("step", "differential_stress"):
        if c not in loading.columns:
            raise SchemaError(f"{source}: loading table has no column {c!r}")
    s = loading["differential_stress"].to_numpy(float)
    st = loading["step"].to_numpy(float)
    if s.size < 2:
        raise InsufficientDataError(f"{source}: the loading record has {s.size} sample(s): no mainshock can be found")
    runmax = np.maximum.accumulate(s)
    fall = runmax - s
    i = int(np.argmax(fall))
    if not (runmax[i] > 0 and fall[i] >= min_drop * runmax[i]):
        raise InsufficientDataError(
            f"{source}: no mainshock: the differential stress never falls by {min_drop:.0%} of its peak; "
            "run the simulation until the fault slips")
    ipk = int(np.flatnonzero(s[: i + 1] == runmax[i])[-1])
    onset = st[ipk]
    if peak_step is not None and ipk + 1 < st.size and st[ipk] <= float(peak_step) < st[ipk + 1]:
        onset = float(peak_step)
    return pd.DataFrame({"cycle": [0], "onset": [float(onset)], "end": [float(st[i])]})


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise SchemaError(f"{path}: not a readable parquet file ({type(exc).__name__})") from None


def _with_m0(ev: pd.DataFrame) -> pd.DataFrame:
    if "m0" not in ev.columns:
        ev = ev.assign(m0=10.0 ** (1.5 * ev["mw"].to_numpy(float) + 9.1))
    return ev


def run_record(run, *, min_drop: float = 0.05, contacts: bool = True) -> Record:
    """A :class:`Record` of a run directory (times in steps)."""
    from labquake.io.rundir import RunDirectory

    rd = run if isinstance(run, RunDirectory) else RunDirectory(run)
    meta = rd.read_meta()
    loading = rd.read_table("loading")
    slips_path = rd.path / "slips.parquet"
    slips = _read_parquet(slips_path) if slips_path.exists() else None
    ms = find_mainshocks(loading, min_drop=min_drop, peak_step=meta.get("peak_step"), slips=slips, source=str(rd.path))
    ev = rd.read_table("events")
    ev = ev.assign(time=ev["step_start"].astype(float)).sort_values(["time", "event_id"], kind="stable")
    if "stage" in loading.columns and (loading["stage"].astype(str) == "axial").any():
        start = float(loading.loc[loading["stage"].astype(str) == "axial", "step"].iloc[0])
    else:
        start = float(meta.get("axial_start_step", loading["step"].iloc[0]))
    # one sample per step (the last: the axial stage's first sample repeats consolidation's last)
    lo = loading.drop_duplicates("step", keep="last").sort_values("step", kind="stable")
    lo = lo.assign(time=lo["step"].astype(float))
    cracks = rd.read_table("cracks", columns=["step"])["step"].to_numpy(float)
    ca = None
    if contacts and rd.has_table("contacts"):
        from labquake.analysis.grains import contact_arrays

        ca = contact_arrays(_read_parquet(rd.table_path("contacts")), columns=("fn", "fs"))
    return Record(name=rd.name, unit="step", start=start, mainshocks=ms, events=_with_m0(ev.reset_index(drop=True)),
                  loading=lo.reset_index(drop=True), cracks=np.sort(cracks), contacts=ca, data="simulated",
                  ae_window=(meta.get("ae") or {}).get("time_window_steps"))


# --------------------------------------------------------------------------------------
# Okubo FB03-087
# --------------------------------------------------------------------------------------


def is_okubo_dir(path) -> bool:
    """Whether ``path`` holds the Okubo FB03-087 files."""
    p = Path(path)
    return p.is_dir() and all((p / f).is_file() for f in OKUBO_FILES.values())


def _csv(path: Path, **kw) -> pd.DataFrame:
    try:
        raw = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise RunStateError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    lines = raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    keep = [ln for ln in lines if ln.strip() and not ln.lstrip('"').startswith("#") and ln.strip(", ")]
    try:
        return pd.read_csv(io.StringIO("\n".join(keep)), skipinitialspace=True, **kw)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataFormatError(f"{path}: {exc}") from None


def okubo_table(path, which: str) -> pd.DataFrame:
    """One file of the Okubo FB03-087 data set as read for :func:`okubo_record`: ``which``
    is a key of :data:`OKUBO_FILES` (``timing``, ``picks``, ``catalog``, ``stats``); comment
    lines and empty rows are dropped, CR line endings accepted."""
    p = Path(path)
    if which not in OKUBO_FILES:
        raise SchemaError(f"Okubo file {which!r} is unknown; use one of {', '.join(OKUBO_FILES)}")
    if not is_okubo_dir(p):
        missing = [f for f in OKUBO_FILES.values() if not (p / f).is_file()]
        raise RunStateError(f"{p}: not the Okubo FB03-087 data set (missing {', '.join(missing)})")
    return _csv(p / OKUBO_FILES[which])


def okubo_record(path) -> Record:
    """A :class:`Record` of the Okubo FB03-087 data (times in seconds).

    Mainshocks: ``mainshock_onset_all`` and ``mainshock_termination_all`` of the timing
    file (56 stick-slips; cycle 0 is the first inter-event interval, so the first
    stick-slip only closes it). Events: the 133 gouge-event picks; the 44 catalogued
    events (with ``Mw`` and ``M0``) are matched to picks by time. No loading series,
    cracks or contacts exist in the data set.
    """
    p = Path(path)
    if not is_okubo_dir(p):
        missing = [f for f in OKUBO_FILES.values() if not (p / f).is_file()]
        raise RunStateError(f"{p}: not the Okubo FB03-087 data set (missing {', '.join(missing)})")
    tim = _csv(p / OKUBO_FILES["timing"])
    need = ["mainshock_onset_all", "mainshock_termination_all"]
    if any(c not in tim.columns for c in need):
        raise SchemaError(f"{p / OKUBO_FILES['timing']}: needs columns {need}")
    on = tim["mainshock_onset_all"].to_numpy(float)
    end = tim["mainshock_termination_all"].to_numpy(float)
    ms = pd.DataFrame({"cycle": np.arange(on.size - 1), "onset": on[1:], "end": end[1:]})
    picks = _csv(p / OKUBO_FILES["picks"])
    cat = _csv(p / OKUBO_FILES["catalog"])
    pt = np.sort(picks["picktime"].to_numpy(float))
    ev = pd.DataFrame({"time": pt, "mw": np.nan, "m0": np.nan})
    # the catalogued events carry magnitudes; match each to the nearest pick
    ct = cat["event_onset_time"].to_numpy(float)
    j = np.clip(np.searchsorted(pt, ct), 1, pt.size - 1)
    j = np.where(np.abs(pt[j - 1] - ct) < np.abs(pt[j] - ct), j - 1, j)
    ev.loc[j, "mw"] = cat["Mw"].to_numpy(float)
    ev.loc[j, "m0"] = cat["M0"].to_numpy(float)
    return Record(name="okubo-fb03-087", unit="s", start=float(end[0]), mainshocks=ms, events=ev,
                  data="okubo")
