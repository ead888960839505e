"""PFC3D source directories: which file is which layout, and the alias tables of generic tables.

A file is classified by its name (``crk<run>-<trial>.txt``, ``ms...``, ``S<run>-sh.csv``, ...);
generic ball and contact tables are recognised by their header, whose names are compared
lower-case with ' ', '.' and '-' read as '_'.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from labquake.errors import DataFormatError

# --------------------------------------------------------------------------------------
# Alias tables for generic tables (names compared lower-case, with ' ', '.', '-' → '_')
# --------------------------------------------------------------------------------------


def _xyz(prefixes: list[str], suffix_style=("{p}{a}", "{p}_{a}")) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in "xyz":
        names = []
        for p in prefixes:
            for s in suffix_style:
                names.append(s.format(p=p, a=a))
        out[a] = names
    return out


_POS = _xyz(["pos", "position", "p", "coord", "centre", "center"])
BALL_ALIASES: dict[str, list[str]] = {
    "id": ["id", "ball_id", "bid", "ball", "index", "idx"],
    "x": ["x", *_POS["x"]], "y": ["y", *_POS["y"]], "z": ["z", *_POS["z"]],
    "radius": ["radius", "rad", "r", "ball_radius"],
    "diameter": ["diameter", "diam", "d"],
    **{f"v{a}": [f"v{a}", f"vel_{a}", f"velocity_{a}", f"v_{a}", f"vel{a}"] for a in "xyz"},
    **{f"u{a}": [f"u{a}", f"disp_{a}", f"displacement_{a}", f"u_{a}", f"d{a}", f"disp{a}"] for a in "xyz"},
    **{f"f{a}": [f"f{a}", f"force_{a}", f"f_{a}", f"force_contact_{a}"] for a in "xyz"},
    "mass": ["mass", "m"],
    "density": ["density", "dens", "rho"],
}
CONTACT_ALIASES: dict[str, list[str]] = {
    "id": ["id", "contact_id", "cid", "index", "idx"],
    "contact_type": ["contact_type", "type", "model", "contact_model", "ctype", "model_name"],
    "end1": ["end1", "ball1", "id1", "ball_a", "particle_a", "b1", "end_1", "ball_1"],
    "end2": ["end2", "ball2", "id2", "ball_b", "particle_b", "b2", "end_2", "ball_2"],
    "x": ["x", *_POS["x"], "cx", "contact_x"], "y": ["y", *_POS["y"], "cy", "contact_y"],
    "z": ["z", *_POS["z"], "cz", "contact_z"],
    **{f"n{a}": [f"n{a}", f"n_{a}", f"norm_{a}", f"normal_{a}", f"unorm_{a}", f"norm{a}"] for a in "xyz"},
    "fn": ["fn", "f_n", "force_normal", "normal_force", "fnorm", "fn_mag"],
    "fs": ["fs", "ft", "f_s", "f_t", "force_shear", "shear_force", "fshear", "fs_mag", "ft_mag"],
    **{f"fs{a}": [f"fs{a}", f"fs_{a}", f"ft{a}", f"ft_{a}", f"shear_{a}", f"force_shear_{a}"] for a in "xyz"},
    "gap": ["gap"],
    "area": ["area", "sj_area", "fj_area", "bond_area"],
    "bonded": ["bonded", "is_bonded", "bond", "state", "bond_state"],
}
STRESS_ALIASES: dict[str, list[str]] = {
    "step": ["step", "steps", "cycle", "cycles", "cyc", "mech_step", "global_step", "step_number"],
    "time": ["time", "t", "mech_time", "age", "mech_age"],
    "differential_stress": ["differential_stress", "deviatoric_stress", "deviatoric", "sh", "ss", "stress",
                            "q", "sigma_d", "dev_stress", "diff_stress"],
    "axial_strain": ["axial_strain", "strain", "ezz", "eps", "eps_zz", "e_zz", "strain_zz"],
    "axial_stress": ["axial_stress", "szz", "sigma_zz", "sigma1", "s1", "sigma_1"],
    "confining_stress": ["confining_stress", "confinement", "sigma3", "s3", "sigma_3", "pc"],
    "volumetric_strain": ["volumetric_strain", "vol_strain", "ev", "e_v", "eps_v"],
    "platen_displacement": ["platen_displacement", "platen_disp", "displacement"],
    "fault_slip": ["fault_slip", "slip"],
    "kinetic_energy": ["kinetic_energy", "ekinetic", "ek", "e_kinetic"],
}
_STRING_CONTACT = {"contact_type"}

#: PFC contact-model names → the run directory's model vocabulary
MODEL_NAMES: dict[str, str] = {
    "smoothjoint": "smoothjoint", "sj": "smoothjoint", "smooth_joint": "smoothjoint",
    "flatjoint": "flatjoint", "fj": "flatjoint", "flat_joint": "flatjoint",
    **{n: "linear" for n in ("linear", "linearpbond", "linearcbond", "rrlinear", "hertz", "hysteretic",
                             "eepa", "jkr", "burger", "springnetwork", "softbond", "pb", "linearcontactbond",
                             "linearparallelbond")},
}


def _norm_name(s: str) -> str:
    s = s.strip().strip('"').strip("'").lower()
    s = re.sub(r"\s*\[[^\]]*\]$|\s*\([^)]*\)$", "", s)  # drop a unit suffix: "fn [N]", "x (m)"
    return re.sub(r"[\s.\-/]+", "_", s).strip("_")


def map_aliases(header: list[str], aliases: dict[str, list[str]]) -> tuple[dict[str, str], list[str]]:
    """Map header names to canonical names; returns ({canonical: header}, unmapped headers)."""
    lookup: dict[str, str] = {}
    for canon, names in aliases.items():
        for n in names:
            lookup.setdefault(_norm_name(n), canon)
    mapped: dict[str, str] = {}
    unmapped: list[str] = []
    for h in header:
        c = lookup.get(_norm_name(h))
        if c is None or c in mapped:
            unmapped.append(h)
        else:
            mapped[c] = h
    return mapped, unmapped


# --------------------------------------------------------------------------------------
# Scanning a source directory
# --------------------------------------------------------------------------------------

_EXT = r"(?:\.(?:txt|dat|csv|fish|fis|bin|fdat|out))?"
_RT = r"(?P<run>\d+)-(?P<trial>\d+)"
_HIST_QUANTITIES = ("cn", "cs", "cb", *(f"b{k}{a}{oe}" for k in "dv" for a in "xyz" for oe in ("", "_oe")))
_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("ae_unclustered", re.compile(rf"^ae-unclustered{_RT}{_EXT}$", re.IGNORECASE)),
    ("ae", re.compile(rf"^ae{_RT}{_EXT}$", re.IGNORECASE)),
    ("crk", re.compile(rf"^crk{_RT}{_EXT}$", re.IGNORECASE)),
    ("ms", re.compile(rf"^ms{_RT}{_EXT}$", re.IGNORECASE)),
    ("c_model", re.compile(rf"^c_model{_RT}{_EXT}$", re.IGNORECASE)),
    ("b_coord", re.compile(rf"^b_coord{_RT}{_EXT}$", re.IGNORECASE)),
    ("global_step", re.compile(rf"^global_step{_RT}{_EXT}$", re.IGNORECASE)),
    ("cextra", re.compile(rf"^cextra(?P<k>[1-9]){_RT}{_EXT}$", re.IGNORECASE)),
    ("hist", re.compile(rf"^(?P<q>b[dv][xyz](?:_oe)?|cn|cs|cb){_RT}{_EXT}$", re.IGNORECASE)),
    ("sh", re.compile(rf"^S(?P<run>\d+)-sh{_EXT}$", re.IGNORECASE)),
    ("ss", re.compile(rf"^S(?P<run>\d+)-ss{_EXT}$", re.IGNORECASE)),
    ("sj", re.compile(rf"^sj(?P<run>\d+){_EXT}$", re.IGNORECASE)),
    ("balls", re.compile(rf"^balls?(?:[_\-.][^/]*|\d[^/]*)?{_EXT}$", re.IGNORECASE)),
    ("contact_table", re.compile(rf"^contacts?(?:[_\-.][^/]*|\d[^/]*)?{_EXT}$", re.IGNORECASE)),
]

_LAYOUT_WORDS = {
    "crk": "crack file", "ae": "per-crack moment tensors", "ae_unclustered": "unclustered per-crack moment tensors",
    "ms": "clustered events", "c_model": "contact models", "b_coord": "ball coordinates of monitored contacts",
    "global_step": "recorded steps", "cextra": "contact extra variables", "hist": "contact history",
    "sh": "stress history (time)", "ss": "stress-strain history", "sj": "smooth-joint table",
    "balls": "ball table", "contact_table": "contact table", "config": "import settings",
}


@dataclass(frozen=True)
class SourceFile:
    path: Path
    layout: str
    run: int | None = None
    trial: int | None = None
    quantity: str | None = None  # history quantity (cn, cs, bdx_oe, ...)

    @property
    def name(self) -> str:
        return self.path.name


def classify(path: Path) -> SourceFile | None:
    name = path.name
    if name.lower() == "pfc.toml":
        return SourceFile(path, "config")
    for layout, pat in _PATTERNS:
        m = pat.match(name)
        if not m:
            continue
        g = m.groupdict()
        run = int(g["run"]) if g.get("run") else None
        trial = int(g["trial"]) if g.get("trial") else None
        q = g.get("q")
        return SourceFile(path, layout, run, trial, q.lower() if q else None)
    return None


def scan_source(src_dir: str | os.PathLike) -> tuple[list[SourceFile], list[tuple[str, str]]]:
    """Classify the files of ``src_dir`` (not recursive); returns (recognised, ignored)."""
    src = Path(src_dir)
    if not src.exists():
        raise DataFormatError(f"{src}: source directory not found")
    if not src.is_dir():
        raise DataFormatError(f"{src}: not a directory (give the folder that holds the PFC3D exports)")
    found, ignored = [], []
    for p in sorted(src.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir():
            ignored.append((p.name, "a directory (not searched)"))
            continue
        sf = classify(p)
        if sf is None:
            ignored.append((p.name, "not a known PFC3D layout"))
        else:
            found.append(sf)
    return found, ignored
