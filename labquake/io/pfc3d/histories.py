"""PFC3D contact histories (``cn``/``cs``/``bd*``/``bv*`` files of every trial) to the contacts table.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from labquake.errors import ConfigError, DataFormatError
from labquake.io.pfc3d.config import DEFAULT_CONTACT_INTERVAL, PfcImportConfig
from labquake.io.pfc3d.diagnostics import ImportReport
from labquake.io.pfc3d.files import _extras_of, _set_extra
from labquake.io.pfc3d.fish import is_fish_binary
from labquake.io.pfc3d.scan import _HIST_QUANTITIES, MODEL_NAMES, SourceFile
from labquake.io.pfc3d.text import LAYOUTS, Parsed, parse_layout

# --------------------------------------------------------------------------------------
# Contact histories
# --------------------------------------------------------------------------------------


def _trim_unfilled(mats: dict[str, np.ndarray]) -> int:
    """Number of trailing rows that are zero in every history matrix (FISH arrays are
    preallocated, so a run that stopped early leaves zero rows at the end)."""
    n = min(m.shape[0] for m in mats.values())
    k = n
    while k > 0 and all(not m[k - 1].any() for m in mats.values()):
        k -= 1
    return n - k


def _read_histories(files: list[SourceFile], cfg: PfcImportConfig, report: ImportReport):
    by_trial: dict[int, dict[str, SourceFile]] = {}
    for f in files:
        if f.layout == "cextra":
            report.ignored.append((f.name, "contact extra variables (cextra) are not part of the run directory"))
            continue
        q = f.quantity if f.layout == "hist" else f.layout
        by_trial.setdefault(f.trial or 1, {})[q] = f
    trials = sorted(by_trial)
    if cfg.trials is not None:
        missing = [t for t in cfg.trials if t not in by_trial]
        if missing:
            raise ConfigError(f"{report.src}: no contact-history files for trial(s) {missing}; found trials {trials}")
        for t in trials:
            if t not in cfg.trials:
                for f in by_trial[t].values():
                    report.ignored.append((f.name, f"trial {t} not selected (trials = {list(cfg.trials)})"))
        trials = list(cfg.trials)
    with_forces = [t for t in trials if "cn" in by_trial[t] or "cs" in by_trial[t]]
    for t in trials:
        if t not in with_forces:
            for f in by_trial[t].values():
                report.ignored.append((f.name, f"trial {t} has no cn/cs force history"))
    trials = with_forces
    if not trials:
        return None, None, cfg.contact_interval
    report.trials = trials
    global_steps = {t: by_trial[t]["global_step"] for t in trials if "global_step" in by_trial[t]}

    per_trial = []
    ref: tuple[str, int] | None = None  # (file, rows) of the first trial, for length checks
    models_of: dict[int, Parsed | None] = {}
    n_of: dict[int, int | None] = {}
    for t in trials:
        fs = by_trial[t]
        for q in ("cn", "cs"):
            if q not in fs:
                raise DataFormatError(f"{report.src}: trial {t} has {'cs' if q == 'cn' else 'cn'} but no "
                                      f"{q}<run>-{t}.txt; both force histories are needed")
        models_of[t], n_of[t] = None, cfg.n_contacts
        if "c_model" in fs:
            pm = parse_layout(fs["c_model"].path, LAYOUTS["c_model"], ncols=1)
            models_of[t], n_of[t] = pm, len(pm.frame)
    # the big files: parse them all in parallel (pyarrow releases the GIL)
    jobs = {}
    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
        for t in trials:
            n = n_of[t]
            for q in _HIST_QUANTITIES:
                f = by_trial[t].get(q)
                if f is None:
                    continue
                nc = n + 1 if n is not None and is_fish_binary(f.path) else None
                jobs[(t, q)] = pool.submit(parse_layout, f.path, LAYOUTS["hist"], ncols=nc)
        results = {key: fut.exception() or fut.result() for key, fut in jobs.items()}
    for key in jobs:  # the first failure in file order
        if isinstance(results[key], BaseException):
            raise results[key]
    for t in trials:
        fs = by_trial[t]
        models, n = models_of[t], n_of[t]
        mats: dict[str, np.ndarray] = {}
        parsed_files: dict[str, Parsed] = {}
        first = results[(t, "cn")]
        ncols = first.frame.shape[1]
        if n is None:
            n = ncols - 1
            has_step = True
        elif ncols == n + 1:
            has_step = True
        elif ncols == n:
            has_step = False
        else:
            src = fs["c_model"].name if models is not None else "n_contacts in the config"
            raise first.error(0, f"expected {n + 1} columns (step + {n} contacts, from {src}), found {ncols}")
        if n < 1:
            raise first.error(0, "no contact columns after the step column")
        parsed_files["cn"] = first
        mats["cn"] = first.frame.to_numpy(np.float64)
        for q in _HIST_QUANTITIES:
            if q == "cn" or q not in fs:
                continue
            p = results[(t, q)]
            if p.frame.shape[1] != ncols:  # re-parse strictly to name the first bad line
                parse_layout(fs[q].path, LAYOUTS["hist"], ncols=ncols)
                raise p.error(0, f"expected {ncols} columns like {fs['cn'].name}, found {p.frame.shape[1]}")
            parsed_files[q] = p
            mats[q] = p.frame.to_numpy(np.float64)
        # steps
        gs = None
        gfile = global_steps.get(t) or (global_steps.get(trials[0]) if global_steps else None)
        if gfile is not None:
            pg = parse_layout(gfile.path, LAYOUTS["global_step"], ncols=1)
            gs = pg.frame.iloc[:, 0].to_numpy(np.float64)
            nz = np.flatnonzero(gs != 0)
            gs = gs[: (nz[-1] + 1) if len(nz) else 0]
        unfilled = _trim_unfilled(mats)
        rows = {q: m.shape[0] for q, m in mats.items()}
        nrow = rows["cn"]
        for q, r in rows.items():
            if r != nrow:
                short, long_ = (q, "cn") if r < nrow else ("cn", q)
                nshort = min(r, nrow)
                raise DataFormatError(
                    f"{fs[long_].path}, line {nshort + 1}: {max(r, nrow)} rows but {fs[short].name} has {nshort}; "
                    f"every history file of trial {t} needs one row per recorded step")
        nrow -= unfilled
        if ref is not None and nrow != ref[1]:
            longer = fs["cn"].path if nrow > ref[1] else ref[2]
            raise DataFormatError(
                f"{longer}, line {min(nrow, ref[1]) + 1}: mismatched trial lengths: trial {t} "
                f"({fs['cn'].name}) has {nrow} recorded steps, {ref[0]} has {ref[1]}; all trials must cover "
                f"the same steps")
        if gs is not None and len(gs) != nrow:
            if len(gs) < nrow and all(not m[len(gs):nrow].any() for m in mats.values()):
                unfilled += nrow - len(gs)
                nrow = len(gs)
            else:
                raise DataFormatError(
                    f"{gfile.path}, line {min(len(gs), nrow) + 1}: lists {len(gs)} recorded steps but "
                    f"{fs['cn'].name} has {nrow} rows")
        if unfilled:
            report.ignored.append((f"trial {t} histories", f"{unfilled} trailing all-zero (unfilled) rows"))
        for q in mats:
            mats[q] = mats[q][:nrow]
        if ref is None:
            ref = (fs["cn"].name, nrow, fs["cn"].path)
        steps, how = _history_steps(mats["cn"][:, 0] if has_step else None, gs, nrow, cfg, fs["cn"])
        per_trial.append(dict(trial=t, n=n, mats=mats, has_step=has_step, steps=steps, models=models, files=fs,
                              how=how, parsed=parsed_files))
    # --- assemble the long table: step-major, and at each step trial 1's contacts, then
    # trial 2's, ...; each quantity is copied once into its (steps × contacts) block ------
    mon_frames = []
    offset = 0
    interval = cfg.contact_interval
    same_steps = all(np.array_equal(per_trial[0]["steps"], tr["steps"]) for tr in per_trial)
    n_total = sum(tr["n"] for tr in per_trial)
    blocks = []  # (row offset or None, column offset, trial) for each trial
    for tr in per_trial:
        mon = _monitored(tr, offset, cfg, report)
        mon_frames.append(mon)
        blocks.append(offset)
        offset += tr["n"]
        steps = tr["steps"]
        if interval is None and len(steps) > 1:
            d = np.diff(steps)
            interval = int(np.median(d)) if (d > 0).all() else None

    def gather(get, dtype=np.float64) -> np.ndarray:
        """One column of the long table from per-trial (steps × n) matrices."""
        if same_steps:
            out = np.empty((len(per_trial[0]["steps"]), n_total), dtype=dtype)
            for tr, off in zip(per_trial, blocks):
                out[:, off:off + tr["n"]] = get(tr)
            return out.reshape(-1)
        return np.concatenate([np.asarray(get(tr), dtype=dtype).reshape(-1) for tr in per_trial])

    def hist(tr, q):
        return tr["mats"][q][:, (1 if tr["has_step"] else 0):]

    cols: dict[str, np.ndarray] = {}
    cols["step"] = gather(lambda tr: np.broadcast_to(tr["steps"][:, None], (len(tr["steps"]), tr["n"])), np.int64)
    cols["time"] = cols["step"] * cfg.dt
    ids_of = [m["contact_id"].to_numpy() for m in mon_frames]
    cols["contact_id"] = gather(lambda tr: np.broadcast_to(ids_of[per_trial.index(tr)][None, :],
                                                           (len(tr["steps"]), tr["n"])), np.int64)
    cols["fn"] = gather(lambda tr: hist(tr, "cn") * cfg.normal_sign)
    for tr in per_trial:
        if (hist(tr, "cs") < 0).any():
            report.warn(f"{tr['files']['cs'].name}: negative shear forces; their magnitude is used")
    cols["fs"] = gather(lambda tr: np.abs(hist(tr, "cs")))

    def broken(tr):
        if "cb" in tr["mats"]:
            return hist(tr, "cb") != 0
        return (hist(tr, "cn") == 0) & (hist(tr, "cs") == 0)

    cols["broken"] = gather(broken, bool)
    if any("cb" not in tr["mats"] for tr in per_trial):
        report.filled.append("contacts.broken = (fn == 0 and fs == 0) where no cb file: PFC writes zero forces "
                             "for a contact that no longer exists")
    for side, suf in (("a", ""), ("b", "_oe")):
        for kind, lab in (("d", "u"), ("v", "v")):
            for ax in "xyz":
                q = f"b{kind}{ax}{suf}"

                def motion(tr, q=q, kind=kind):
                    if q not in tr["mats"]:
                        return 0.0
                    m = hist(tr, q)
                    if kind == "d" and cfg.rebase_displacement and len(m):
                        m = m - m[0]
                    return m

                cols[f"{side}_{lab}{ax}"] = gather(lambda tr, f=motion: np.broadcast_to(
                    f(tr), (len(tr["steps"]), tr["n"])))
    for tr in per_trial:
        t, n, fs, nrow = tr["trial"], tr["n"], tr["files"], len(tr["steps"])
        missing_motion = [q for q in _HIST_QUANTITIES if q.startswith("b") and q not in tr["mats"]]
        if missing_motion:
            report.filled.append(f"contacts of trial {t}: {_short_list(missing_motion)} not found, zeros written")
        for q, f in fs.items():
            if q in tr["mats"]:
                what = {"cn": "fn", "cs": "fs", "cb": "broken"}.get(q) or _motion_name(q)
                report.mapped.append((f.name, "contacts.parquet", f"{what}: {nrow} steps × {n} contacts"))
        if "global_step" in fs:
            report.mapped.append((fs["global_step"].name, "contacts.parquet", "step"))
        report.settings.append(f"trial {t}: steps {tr['how']}")
    contacts = pd.DataFrame(cols, copy=False)
    if not same_steps:
        contacts = contacts.sort_values("step", kind="mergesort", ignore_index=True)
    monitored = pd.concat(mon_frames, ignore_index=True)
    if monitored["contact_id"].duplicated().any():
        dup = monitored.loc[monitored["contact_id"].duplicated(), "contact_id"].iloc[0]
        raise DataFormatError(f"{report.src}: contact id {dup} appears twice in the monitored contacts "
                              f"(check the contact_id column of b_coord)")
    return contacts, monitored, interval


def _short_list(items: list[str]) -> str:
    if len(items) == 12:
        return "all ball displacement and velocity files (bd*, bv*)"
    return ", ".join(items)


def _motion_name(q: str) -> str:
    side = "b" if q.endswith("_oe") else "a"
    return f"{side}_{'u' if q[1] == 'd' else 'v'}{q[2]}"


def _history_steps(col, gs, nrow: int, cfg: PfcImportConfig, cn: SourceFile) -> tuple[np.ndarray, str]:
    if gs is not None:
        steps = gs
        how = "from global_step file"
    elif col is not None and nrow > 0 and (nrow == 1 and col[0] != 0 or nrow > 1 and (np.diff(col) > 0).all()):
        steps = col
        how = f"from the first column of {cn.name}"
    else:
        if col is not None and col.any():
            raise DataFormatError(
                f"{cn.path}, line 1: the first column is neither increasing steps nor the zero placeholder FISH "
                f"writes; give a global_step file or check the layout (step f_1 ... f_n)")
        interval = cfg.contact_interval or DEFAULT_CONTACT_INTERVAL
        steps = cfg.start_step + interval * np.arange(nrow, dtype=np.float64)
        how = f"start_step {cfg.start_step} + {interval} × sample index (no steps in the files)"
    if not np.array_equal(steps, np.round(steps)):
        raise DataFormatError(f"{cn.path}: recorded steps are not integers")
    return np.asarray(np.round(steps), dtype=np.int64), how


def _monitored(tr: dict, offset: int, cfg: PfcImportConfig, report: ImportReport) -> pd.DataFrame:
    n, fs, t = tr["n"], tr["files"], tr["trial"]
    out = pd.DataFrame({
        "contact_id": np.arange(offset, offset + n, dtype=np.int64),
        "particle_a": np.full(n, -1, dtype=np.int64),
        "particle_b": np.full(n, -1, dtype=np.int64),
        "x": np.zeros(n), "y": np.zeros(n), "z": np.zeros(n),
        "model": np.full(n, "smoothjoint", dtype=object),
        "trial": np.full(n, t, dtype=np.int64),
    })
    first = t == report.trials[0]
    if tr["models"] is not None:
        pm: Parsed = tr["models"]
        raw = pm.frame["model"].astype(str).str.strip()
        mapped = raw.str.lower().map(MODEL_NAMES)
        if mapped.isna().any():
            row = int(np.flatnonzero(mapped.isna().to_numpy())[0])
            raise pm.error(row, f"unknown contact model {raw.iloc[row]!r}; expected one of smoothjoint, flatjoint, "
                                f"linear (or another PFC model name: {', '.join(sorted(set(MODEL_NAMES) - {'sj', 'fj'}))})")
        out["model"] = mapped.to_numpy(dtype=object)
        report.mapped.append((fs["c_model"].name, "monitored.parquet", f"model of {n} contacts"))
    else:
        report.filled.append(f"monitored.model of trial {t} = smoothjoint (no c_model file)")
    if "b_coord" in fs:
        names = cfg.columns.get("b_coord", ())
        pb = parse_layout(fs["b_coord"].path, LAYOUTS["b_coord"], extra_names=names)
        b = pb.frame
        if len(b) != n:
            raise pb.error(min(len(b), n), f"{len(b)} rows but trial {t} monitors {n} contacts")
        out["x"] = 0.5 * (b["ax"].to_numpy() + b["bx"].to_numpy())
        out["y"] = 0.5 * (b["ay"].to_numpy() + b["by"].to_numpy())
        out["z"] = 0.5 * (b["az"].to_numpy() + b["bz"].to_numpy())
        for c in _extras_of(pb, LAYOUTS["b_coord"].width):
            _set_extra(out, c, b[c].to_numpy(float), pb, {"contact_id", "particle_a", "particle_b"})
        got = {c.partition(":")[0] for c in b.columns}
        report.mapped.append((fs["b_coord"].name, "monitored.parquet",
                              "position" + ("" if {"x", "y", "z"} <= got else " (midpoint of the two balls)")))
        if first and not {"particle_a", "particle_b"} <= got:
            report.filled.append("monitored.particle_a/particle_b = -1 (ball ids not in the PFC files)")
    else:
        report.filled.append(f"monitored x, y, z of trial {t} = 0 and particle ids = -1 (no b_coord file)")
    return out
