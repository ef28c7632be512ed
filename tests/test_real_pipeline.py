"""`make real` on one province of the real Netherlands (Fryslân), with the real public data.

Runs what a GIS specialist runs, ``make real``, with ``config/real.toml`` restricted to one
province and its data folder and outputs in the test's temporary folder, then checks the
outputs against what is known of the real data: which areas are in Fryslân, AERIUS's
receptor ids, the stand-in labels, the farm file's repeated farm, the KDW of every habitat.
Skips where ``../shared`` (the real data), make or the project's .venv are absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from n2kzones.io.writers import read_table

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real"

pytestmark = [pytest.mark.real_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def fryslan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not REAL.is_dir():
        pytest.skip(f"the real data are not available here ({REAL} is absent)")
    stamp = REPO / ".venv" / ".installed-stamp"
    if shutil.which("make") is None or not stamp.exists():
        pytest.skip("needs make and the project's .venv (make test creates both)")
    if stamp.stat().st_mtime < (REPO / "pyproject.toml").stat().st_mtime:
        pytest.skip("the .venv is older than pyproject.toml: make would reinstall it first")
    root = tmp_path_factory.mktemp("real")
    text = (REPO / "config" / "real.toml").read_text("utf-8")
    assert 'output_dir = "data/processed/real"' in text and '# province = "Fryslân"' in text
    text = text.replace("data/raw/real/", f"{root}/raw/").replace(
        'output_dir = "data/processed/real"', f'output_dir = "{root}/out"'
    )
    text = text.replace('# province = "Fryslân"', 'province = "Fryslân"')
    config = root / "real.toml"
    config.write_text(text, "utf-8")
    res = subprocess.run(
        ["make", "-C", str(REPO), "real", f"REAL_CONFIG={config}", f"REAL_RAW={root}/raw"],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return root / "out"


def _manifest(out: Path, stage: str) -> dict:
    return json.loads((out / f"manifest_{stage}.json").read_text("utf-8"))


def test_the_province_chooses_its_areas(fryslan: Path) -> None:
    chosen = _manifest(fryslan, "zones")["areas_chosen"]
    assert (chosen["of"], chosen["kept"]) == (160, len(chosen["site_codes"]))
    areas = gpd.read_file(fryslan / "n2kzones.gpkg", layer="areas")
    names = set(areas["name"])
    assert {"Alde Feanen", "Duinen Schiermonnikoog", "Sneekermeergebied", "Lauwersmeer"} <= names
    assert "Veluwe" not in names and len(areas) == chosen["kept"]
    assert set(areas["site_code"]) == set(chosen["site_codes"])


def test_the_repeated_igo_farm_is_one_farm(fryslan: Path) -> None:
    farms = _manifest(fryslan, "overlay")["inputs"]["farms"]
    assert (farms["n_read"], farms["n_kept"]) == (1141, 1140)
    assert farms["dropped"] == {"repeated row (joined columns)": 1}
    summary = read_table(fryslan / "farm_summary.csv")
    assert len(summary) == 1140 and summary["farm_id"].is_unique


def test_receptors_are_aerius_receptors_on_the_chosen_areas(fryslan: Path) -> None:
    from n2kzones.deposition.receptor_grid import receptor_centres

    rec = gpd.read_file(fryslan / "deposition.gpkg", layer="receptors")
    assert len(rec) > 10_000 and rec["receptor_id"].is_unique
    ids = rec["receptor_id"].to_numpy(np.int64)
    x, y = receptor_centres(ids)
    assert np.max(np.hypot(rec.geometry.x - x, rec.geometry.y - y)) < 1e-6
    chosen = set(_manifest(fryslan, "zones")["areas_chosen"]["site_codes"])
    assert set(rec["site_code"]) <= chosen
    # every receptor's KDW is its habitat type's KDW in WUR report 3272
    from n2kzones.params import load_parameters

    kdw = load_parameters().kdw
    for code, value in rec.groupby("habitat_code")["kdw_mol_ha"].first().items():
        assert kdw.kdw_of(code) == value


def test_stand_in_and_unknown_areas_are_labelled(fryslan: Path) -> None:
    table = read_table(fryslan / "area_deposition.csv")
    per_area = table.loc[table["site_code"] != "ALL"]
    standin = per_area["habitat_source"].str.startswith("stand-in")
    assert standin.all()  # only stand-in habitat on the real data
    counts = _manifest(fryslan, "deposition")["habitat_source_areas"]
    assert sum(counts.values()) == len(per_area)
    proposal = read_table(fryslan / "zone_proposal.csv")
    no_data = proposal.loc[~proposal["habitat_data"].astype(bool)]
    assert len(no_data) == _manifest(fryslan, "zones")["areas_chosen"]["kept"] - len(per_area)
    sensitive = no_data["nitrogen_sensitive"].astype(bool)
    assert sensitive.any()  # Fryslân has nitrogen-sensitive areas without objectives
    assert (no_data.loc[sensitive, "reason_code"] == "no_habitat_data").all()
    assert (no_data.loc[~sensitive, "reason_code"] == "not_sensitive").all()
    report = (fryslan / "report" / "index.html").read_text("utf-8")
    assert 'class="habitat-note"' in report  # the stand-in note (in the configured language)


def test_every_chosen_area_has_a_map(fryslan: Path) -> None:
    chosen = _manifest(fryslan, "zones")["areas_chosen"]["site_codes"]
    maps = sorted(p.name for p in (fryslan / "maps").glob("*.html"))
    assert "index.html" in maps and len(maps) == len(chosen) + 1
