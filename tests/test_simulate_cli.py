"""``labquake simulate`` from the command line."""

from __future__ import annotations

import tomli_w

from labquake.cli import main
from labquake.io.rundir import RunDirectory

from tests.test_experiment import TINY


def test_invalid_config_is_one_line_error(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[fault]\nangle_deg = 95.0\n")
    assert main(["simulate", str(cfg), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("labquake: error:") and "fault.angle_deg" in err and "\n" not in err
    assert not (tmp_path / "r").exists()
    cfg.write_text("[loading]\nconfining_stress = -5.0\n")
    assert main(["simulate", str(cfg), "--out", str(tmp_path / "r")]) == 2
    assert "confining_stress" in capsys.readouterr().err
    cfg.write_text("[specimen]\nd_max = 0.05\n")
    assert main(["simulate", str(cfg), "--out", str(tmp_path / "r")]) == 2
    assert "too large" in capsys.readouterr().err
    cfg.write_text("[loading]\nspeed = 1.0\n")
    assert main(["simulate", str(cfg), "--out", str(tmp_path / "r")]) == 2
    assert "unknown config key 'loading.speed'" in capsys.readouterr().err


def test_cli_runs_and_refuses_to_overwrite(tmp_path, capsys):
    cfg = tmp_path / "tiny.toml"
    raw = {k: v for k, v in TINY.items()}
    raw["loading"] = dict(TINY["loading"], max_steps=4500)
    cfg.write_text(tomli_w.dumps(raw))
    out = tmp_path / "run"
    assert main(["simulate", str(cfg), "--out", str(out), "--quiet"]) == 0
    line = capsys.readouterr().out
    assert "complete" in line and "cracks" in line
    assert RunDirectory(out).is_complete()
    assert main(["simulate", str(cfg), "--out", str(out), "--quiet"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["simulate", str(cfg), "--out", str(out), "--quiet", "--resume"]) == 0
