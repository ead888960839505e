"""The analysis scripts answer a missing or empty campaign directory with one line, exit 2."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "analysis" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", ["campaign_ranges", "energy_closure", "reference_distributions",
                                  "cycles_acceptance", "cycles_vs_okubo", "fault_joint_stress"])
def test_a_missing_directory_is_one_line_and_exit_2(name, tmp_path, capsys):
    missing = tmp_path / "no-such-campaign"
    assert _script(name).main([str(missing)]) == 2
    cap = capsys.readouterr()
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0] and str(missing) in err[0], cap.err
    assert not (tmp_path / "no-such-campaign").exists()  # nothing created


@pytest.mark.parametrize("name", ["campaign_ranges", "reference_distributions"])
def test_an_empty_directory_is_one_line_and_exit_2(name, tmp_path, capsys):
    assert _script(name).main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0]
