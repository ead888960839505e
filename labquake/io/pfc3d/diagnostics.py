"""What a PFC3D import found, mapped, filled in, ignored and warned about.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from labquake.io.pfc3d.scan import _LAYOUT_WORDS


class PfcImportWarning(UserWarning):
    """Something in the PFC files was suspicious but importable (e.g. mag ≠ Mw(tensor))."""

# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import found, mapped, filled in, ignored and warned about."""

    src: str
    out: str | None = None
    run_id: int | None = None
    trials: list[int] = field(default_factory=list)
    found: list[tuple[str, str]] = field(default_factory=list)
    mapped: list[tuple[str, str, str]] = field(default_factory=list)  # (file, target, detail)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    settings: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0

    def warn(self, msg: str) -> None:
        msg = " ".join(str(msg).split())
        self.warnings.append(msg)
        warnings.warn(msg, PfcImportWarning, stacklevel=3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "src": self.src, "run_id": self.run_id, "trials": self.trials,
            "found": [{"file": f, "layout": l} for f, l in self.found],
            "mapped": [{"file": f, "to": t, "detail": d} for f, t, d in self.mapped],
            "ignored": [{"file": f, "why": w} for f, w in self.ignored],
            "filled": self.filled, "warnings": self.warnings, "settings": self.settings,
        }

    def lines(self) -> list[str]:
        head = f"PFC3D import from {self.src}"
        if self.out:
            head += f" into {self.out}"
        if self.run_id is not None:
            head += f" (run {self.run_id}" + (f", trials {', '.join(map(str, self.trials))})" if self.trials else ")")
        out = [head, f"found {len(self.found)} PFC3D file(s):"]
        out += [f"  {f}  [{_LAYOUT_WORDS.get(l, l)}]" for f, l in self.found]
        out.append("mapped:")
        out += [f"  {f} -> {t}" + (f" ({d})" if d else "") for f, t, d in self.mapped] or ["  (nothing)"]
        if self.filled:
            out.append("filled in (not in the PFC files):")
            out += [f"  {x}" for x in self.filled]
        out.append(f"ignored ({len(self.ignored)}):")
        out += [f"  {f}: {w}" for f, w in self.ignored] or ["  (nothing)"]
        if self.settings:
            out.append("settings: " + "; ".join(self.settings))
        if self.warnings:
            out.append(f"warnings ({len(self.warnings)}):")
            out += [f"  {w}" for w in self.warnings]
        if self.counts:
            out.append("rows: " + ", ".join(f"{k} {v}" for k, v in self.counts.items()))
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())
