"""PFC3D stress histories (``S<run>-sh.csv`` / ``-ss.csv``) to the loading table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from labquake.errors import DataFormatError
from labquake.io.pfc3d.config import DEFAULT_CONTACT_INTERVAL, PfcImportConfig
from labquake.io.pfc3d.diagnostics import ImportReport
from labquake.io.pfc3d.files import _first_line
from labquake.io.pfc3d.scan import STRESS_ALIASES, SourceFile, map_aliases
from labquake.io.pfc3d.text import parse_header_table

# --------------------------------------------------------------------------------------
# Stress histories
# --------------------------------------------------------------------------------------


def _read_stress(sh: SourceFile | None, ss: SourceFile | None, cfg: PfcImportConfig, interval: int | None,
                 report: ImportReport) -> pd.DataFrame:
    scale = cfg.stress_scale
    stress_cols = {"differential_stress", "axial_stress", "confining_stress"}
    cols: dict[str, np.ndarray] = {}
    nrow = None
    srcs = []
    for f, positional in ((sh, ("step", "differential_stress")), (ss, ("axial_strain", "differential_stress"))):
        if f is None:
            continue
        head = _first_line(f.path)
        names = [h.strip().strip('"').strip("'") for h in (head.split(",") if "," in head else head.split())]
        known, _ = map_aliases(names, STRESS_ALIASES)
        # columns outside the alias table are not checked (they are reported and ignored)
        p = parse_header_table(f.path, "a stress history with a header row (e.g. step,stress)",
                               string_columns=[h for h in names if h not in known.values()] if known else ())
        header = list(p.frame.columns)
        mapped, unmapped = map_aliases(header, STRESS_ALIASES)
        if not mapped:  # unknown header names: use the positions of the reference layout
            mapped = {positional[i]: header[i] for i in range(min(2, len(header)))}
            unmapped = header[2:]
            report.settings.append(f"{f.name}: header not recognised, columns read by position "
                                   f"({', '.join(positional)})")
        if len(p.frame) == 0:
            raise DataFormatError(f"{f.path}, line 2: no data rows")
        if nrow is None:
            nrow = len(p.frame)
        elif len(p.frame) != nrow:
            raise DataFormatError(f"{f.path}, line {min(nrow, len(p.frame)) + 2}: {len(p.frame)} rows but "
                                  f"{sh.name} has {nrow}; the two stress histories must cover the same records")
        for canon, h in mapped.items():
            v = p.frame[h].to_numpy(np.float64)
            if canon in stress_cols:
                v = v * scale
            if canon in cols and canon != "step" and canon != "time":
                if not np.allclose(cols[canon], v, rtol=1e-6, atol=0):
                    report.warn(f"{f.name}: column {h!r} differs from the same quantity in {sh.name}; "
                                f"the first is kept")
                continue
            cols.setdefault(canon, v)
        for h in unmapped:
            report.ignored.append((f.name, f"column {h!r} (not a loading quantity)"))
        report.mapped.append((f.name, "loading.parquet", ", ".join(sorted(mapped))))
        srcs.append(f)
    assert nrow is not None
    filled = []
    if "step" in cols:
        step = cols["step"]
        if not np.array_equal(step, np.round(step)):
            raise DataFormatError(f"{srcs[0].path}: the step column holds non-integers")
        step = np.round(step).astype(np.int64)
        time_ = cols.get("time", step * cfg.dt)
    elif "time" in cols:
        time_ = cols["time"]
        step = np.round(time_ / cfg.dt).astype(np.int64)
    else:
        iv = interval or DEFAULT_CONTACT_INTERVAL
        step = cfg.start_step + iv * np.arange(nrow, dtype=np.int64)
        time_ = step * cfg.dt
        filled.append(f"loading.step = start_step + {iv} × row (no step or time column)")
    diff = cols.get("differential_stress")
    conf = cols.get("confining_stress")
    axial = cols.get("axial_stress")
    if conf is None:
        conf = np.full(nrow, cfg.confining_stress)
        filled.append(f"loading.confining_stress = {cfg.confining_stress:g} Pa (config)")
    if diff is None and axial is not None:
        diff = axial - conf
    if diff is None:
        raise DataFormatError(f"{srcs[0].path}, line 1: no stress column (expected a column named e.g. 'stress' "
                              f"or 'differential_stress')")
    if axial is None:
        axial = diff + conf
        filled.append("loading.axial_stress = differential_stress + confining_stress")
    strain = cols.get("axial_strain")
    if strain is None:
        strain = np.zeros(nrow)
        filled.append("loading.axial_strain = 0 (no S<run>-ss.csv)")
    plat = cols.get("platen_displacement")
    if plat is None:
        plat = strain * cfg.sample_height
        filled.append(f"loading.platen_displacement = axial_strain × sample height {cfg.sample_height:g} m")
    out = {"step": step, "time": np.asarray(time_, dtype=np.float64), "axial_stress": axial,
           "confining_stress": conf, "differential_stress": diff, "axial_strain": strain}
    for c in ("volumetric_strain", "fault_slip", "kinetic_energy"):
        if c in cols:
            out[c] = cols[c]
        else:
            out[c] = np.zeros(nrow)
            filled.append(f"loading.{c} = 0 (not in the PFC stress histories)")
    out["platen_displacement"] = plat
    report.filled.extend(filled)
    return pd.DataFrame(out)
