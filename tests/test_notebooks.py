"""The notebooks run top to bottom (nbclient) on small data: the tiny test campaign."""

from __future__ import annotations

import os

import pytest
from test_campaign_support import ROOT, TINY_SPEC, tiny_campaign

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

NOTEBOOKS = ROOT / "notebooks"


def execute(name: str, params: dict, tmp_path) -> nbformat.NotebookNode:
    """Execute a notebook with ``params`` injected after its ``parameters`` cell."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    idx = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    src = "# injected by the test\n" + "\n".join(f"{k} = {v!r}" for k, v in params.items())
    nb.cells.insert(idx + 1, nbformat.v4.new_code_cell(src))
    env_before = dict(os.environ)
    os.environ["MPLBACKEND"] = "Agg"
    try:
        client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                         resources={"metadata": {"path": str(NOTEBOOKS)}})
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    nbformat.write(nb, tmp_path / name)  # executed copy, for a look after a failure
    return nb


def outputs(nb) -> str:
    text = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            text.append(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(text)


def images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    c = tiny_campaign(tmp_path_factory)
    assert c.proc.returncode == 0, c.proc.stdout + c.proc.stderr
    return c.dir


def test_01_single_run(tmp_path):
    nb = execute("01_single_run.ipynb", {"CONFIG": str(TINY_SPEC), "RUN_DIR": str(tmp_path / "run"), "BANDWIDTH": 100}, tmp_path)
    assert (tmp_path / "run" / "meta.json").exists()
    assert "complete" in outputs(nb)
    assert images(nb) >= 3  # loading curve, cracks, AE


def test_02_campaign_analysis(campaign, tmp_path):
    nb = execute("02_campaign_analysis.ipynb", {"CAMPAIGN_DIR": str(campaign)}, tmp_path)
    assert images(nb) >= 5  # KDF, clouds, distances, dendrograms, B_k
    assert "p_holm" in outputs(nb)


def test_03_contact_forces_3d(campaign, tmp_path):
    nb = execute("03_contact_forces_3d.ipynb", {"CAMPAIGN_DIR": str(campaign)}, tmp_path)
    assert "records" in outputs(nb)
    assert images(nb) >= 2  # force records, and the 3D view (static image without trame)


def test_04_forecasting(campaign, tmp_path):
    nb = execute("04_forecasting.ipynb", {"CAMPAIGN_DIR": str(campaign)}, tmp_path)
    text = outputs(nb)
    assert "coverage on 500 synthetic sequences" in text and "gradient boosting" in text
    assert images(nb) >= 5  # EVT, departure, Molchan (twice), TTF, consensus
