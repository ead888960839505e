"""What a campaign directory says about itself, read for the campaign report.

``campaign.json`` and ``campaign.toml`` (read without failing), the outputs of each
analysis stage (:data:`STAGE_OUTPUTS`), the outputs a failed stage left behind (stale),
and the file-name form of run names used by the per-run figures.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labquake.errors import LabquakeError
from labquake.io.rundir import read_toml

#: outputs of each analysis stage of a campaign (glob patterns under the campaign directory)
STAGE_OUTPUTS: dict[str, tuple[str, ...]] = {
    "analysis": ("analysis/runs.parquet", "analysis/episodes.parquet", "analysis/seismicity.parquet",
                 "analysis/clouds.parquet", "analysis/distances.parquet", "analysis/linkage.parquet",
                 "analysis/bk.parquet", "analysis/cycles.parquet", "analysis/b_cycle.parquet",
                 "analysis/cycle_episodes.parquet", "analysis/cycle_clouds.parquet", "figures/seismicity*.png",
                 "figures/distances_*.png", "figures/dendrograms_*.png", "figures/bk_*.png", "figures/kdf_*.png",
                 "figures/loading_*.png", "figures/b_cycle.png"),
    "grains": ("analysis/grains_*.parquet", "figures/grains_*.png"),
}


def stage_outputs(campaign_dir: str | os.PathLike, stage: str) -> list[str]:
    """The files of ``stage`` (:data:`STAGE_OUTPUTS`) present in a campaign, relative paths."""
    root = Path(campaign_dir)
    found: set[str] = set()
    for pattern in STAGE_OUTPUTS.get(stage, ()):
        found.update(p.relative_to(root).as_posix() for p in root.glob(pattern) if p.is_file())
    return sorted(found)


def _stale_files(campaign_dir: Path, state: Mapping[str, Any]) -> dict[str, str]:
    """relative path -> the failed stage, for every output a failed stage left behind."""
    stale: dict[str, str] = {}
    recorded = state.get("stale") if isinstance(state.get("stale"), Mapping) else {}
    errors = state.get("stage_errors") if isinstance(state.get("stage_errors"), Mapping) else {}
    for stage in set(recorded) | (set(errors) & set(STAGE_OUTPUTS)):
        files = recorded.get(stage)
        if not isinstance(files, list):  # a failed stage without a list: all its outputs are suspect
            files = stage_outputs(campaign_dir, stage)
        for f in files:
            if (campaign_dir / str(f)).exists():
                stale[str(f)] = stage
    return stale


def _safe_name(name: str) -> str:
    """The file-name form of a run name used by the per-run figures of the pipeline."""
    from labquake.analysis.pipeline import _safe

    return _safe(name)


def _read_toml_quiet(path: Path, warn: list[str]) -> dict[str, Any]:
    try:
        return read_toml(path)
    except LabquakeError as exc:
        warn.append(f"campaign.toml could not be read: {exc}")
        return {}


def _read_json(path: Path, warn: list[str] | None = None) -> dict[str, Any]:
    """A JSON object, or {} (with a warning when the file exists but is damaged)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return data
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        if warn is not None:
            warn.append(f"{path.name} could not be read ({type(exc).__name__}); run states and stage errors are missing")
        return {}
