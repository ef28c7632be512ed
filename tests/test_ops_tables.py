"""The packaged OPS-LT campaign tables (``n2kzones/deposition/data/ops``), without OPS.

Checks that the provenance is complete and matches the files, that the tables load and
are physically sane (known answers, monotone decrease with distance, higher source ->
lower near-source deposition, lower NH3 background -> higher deposition), and that the
packaged h = 5 m / grass / z0 0.1 m / 8 ug/m3 profile equals the shared reference profile.
The reference comparison skips where ``../shared`` is absent.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "src" / "n2kzones" / "deposition" / "data" / "ops"
SHARED = Path(__file__).resolve().parents[2] / "shared"
REF_PROFILE = SHARED / "data" / "reference" / "ops_nh3_single_source_radial_profile.csv"

DEP = "deposition_mol_n_per_ha_per_yr"
CLASSES = {"grass": 1, "arable": 2, "permanent_crops": 3, "coniferous_forest": 4,
           "deciduous_forest": 5, "water": 6, "urban": 7, "heath_other_nature": 8,
           "bare_desert": 9}


@pytest.fixture(scope="module")
def provenance() -> dict:
    return json.loads((DATA / "provenance.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def profiles() -> pd.DataFrame:
    from n2kzones.deposition.classes import read_ops_profiles

    return read_ops_profiles()


@pytest.fixture(scope="module")
def cases() -> pd.DataFrame:
    return pd.read_csv(DATA / "ops_nh3_cases.csv.gz", dtype={"case_id": str})


def _profile(prof: pd.DataFrame, h=5.0, lu="grass", z0=0.1, rz=None, bg=8.0) -> pd.DataFrame:
    rz = z0 if rz is None else rz
    m = ((prof.source_height_m == h) & (prof.receptor_landuse == lu) & np.isclose(prof.z0_m, z0)
         & np.isclose(prof.receptor_z0_m, rz) & np.isclose(prof.nh3_bg_ug_per_m3, bg))
    out = prof[m].sort_values("distance_m")
    assert out.case_id.nunique() == 1, f"expected one case for h={h} {lu} z0={z0} rz={rz} bg={bg}"
    return out


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# --- provenance -----------------------------------------------------------------------------


def test_provenance_complete(provenance):
    for key in ("model_version_reported", "source_repository", "source_commit", "compiler",
                "build", "executable_sha256", "meteo_file", "meteo_sha256", "gammawater_sha256",
                "settings", "design", "date", "harness_command", "files"):
        assert provenance.get(key), f"provenance lacks {key}"
    assert "L-5.3.1.0" in provenance["model_version_reported"]
    assert provenance["model_version_in_reports"] == ["L-5.3.1.0"]
    assert provenance["source_commit"].startswith("75db16d")
    assert "GNU Fortran" in provenance["compiler"]
    assert "-O2" in provenance["build"]["fortran_flags_effective"]
    assert re.fullmatch(r"[0-9a-f]{64}", provenance["executable_sha256"])
    assert re.fullmatch(r"[0-9a-f]{64}", provenance["meteo_sha256"])
    assert provenance["meteo_file"] == "a005105c.005"
    s = provenance["settings"]
    for key in ("COMPCODE", "DIFFCOEFF", "WASHOUT", "YEAR", "RECEPTYPE", "receptor_height_m",
                "DEPUNIT", "emission_kg_nh3_per_yr", "so2_bg_ug_per_m3", "nox_bg_ug_per_m3",
                "roughness_modes", "receptor_landuse"):
        assert key in s, f"provenance settings lack {key}"
    assert s["COMPCODE"] == 3 and s["YEAR"] == 2020 and s["receptor_height_m"] == 4.0


def test_provenance_file_hashes_match(provenance):
    files = provenance["files"]
    assert set(files) == {p.name for p in DATA.glob("*.csv.gz")}
    for name, digest in files.items():
        assert _sha256(DATA / name) == digest, f"{name} changed after provenance was written"


def test_package_data_small():
    total = sum(p.stat().st_size for p in DATA.iterdir())
    assert total < 7e6, f"package data is {total / 1e6:.1f} MB"


# --- tables ---------------------------------------------------------------------------------


def test_tables_load_and_are_consistent(profiles, cases):
    assert profiles[DEP].notna().all() and (profiles[DEP] > 0).all()
    assert profiles.case_id.str.fullmatch(r"c[0-9a-f]{12}").all()
    assert set(profiles.case_id) == set(cases.case_id) and cases.case_id.is_unique
    assert (profiles.groupby("case_id").size() == 104).all()
    assert (profiles.n_directions == 36).all()
    assert set(profiles.receptor_landuse) == set(CLASSES)
    for lu, cls in CLASSES.items():
        assert (profiles.loc[profiles.receptor_landuse == lu, "landuse_class"] == cls).all()
    # total = dry + wet (dry and wet are stored with 4 digits)
    tot = profiles.dry_deposition_mol_n_per_ha_per_yr + profiles.wet_deposition_mol_n_per_ha_per_yr
    np.testing.assert_allclose(tot, profiles[DEP], rtol=2e-3)
    assert cases.held_out.any() and (~cases.held_out).any()


def test_path_directions_average_to_profiles(profiles):
    d = pd.read_csv(DATA / "ops_nh3_path_directions.csv.gz", dtype={"case_id": str})
    assert (d.groupby("case_id").size() == 36 * 104).all()
    mean = d.groupby(["case_id", "distance_m"])[DEP].mean().rename("m").reset_index()
    m = mean.merge(profiles[["case_id", "distance_m", DEP]], on=["case_id", "distance_m"])
    assert len(m) == len(mean)
    np.testing.assert_allclose(m["m"], m[DEP], rtol=1e-4)
    # spread over directions at 1 km (reference h=5 grass: 1.752-6.039 over 12 directions)
    b = d[(d.source_height_m == 5) & np.isclose(d.z0_m, 0.1) & (d.distance_m == 1000)]
    assert b[DEP].min() < 0.7 * b[DEP].mean()
    assert b[DEP].max() > 1.5 * b[DEP].mean()


def test_known_answers(profiles):
    # OPS_REFERENCE.md results table (12-direction means; 36 directions agree within 1 %)
    p = _profile(profiles).set_index("distance_m")[DEP]
    for d, ref in ((100, 126.7), (500, 10.21), (1000, 3.13), (5000, 0.204), (25000, 0.01476)):
        assert p[d] == pytest.approx(ref, rel=0.015), d
    a = _profile(profiles, lu="arable").set_index("distance_m")[DEP]
    assert a[500] == pytest.approx(14.51, rel=0.015)
    assert a[1000] / p[1000] == pytest.approx(4.316 / 3.13, rel=0.015)


def test_monotone_decrease_beyond_200m(profiles):
    far = profiles[profiles.distance_m >= 200].sort_values(["case_id", "distance_m"])
    step = far.groupby("case_id")[DEP].apply(lambda s: float(np.max(np.diff(np.log(s.to_numpy())))))
    mode = far.groupby("case_id")["z0_mode"].first()
    # fixed roughness (receptor z0 = landscape z0): strictly decreasing
    assert (step[mode == "fixed"] < 0).all(), step[mode == "fixed"].nlargest(3)
    # receptor z0 != landscape z0 (map mode): OPS profiles have small bumps (seen: <= 0.5 %
    # between neighbouring distances, h = 12 m, z0r = 1 m near 5 km); never more than 1 %
    assert (step[mode == "map"] < np.log(1.01)).all(), step[mode == "map"].nlargest(3)


def test_higher_source_lower_near_source_deposition(profiles):
    for z0 in (0.1, 0.25):
        heights = sorted(profiles.loc[(profiles.case_tag == "path"), "source_height_m"].unique())
        near = [_profile(profiles, h=h, z0=z0).set_index("distance_m")[DEP].loc[25:100].mean()
                for h in heights]
        assert np.all(np.diff(near) < 0), f"z0={z0}: {dict(zip(heights, near, strict=True))}"


def test_lower_background_higher_deposition(profiles):
    bgs = sorted(profiles.nh3_bg_ug_per_m3.unique())
    assert len(bgs) >= 5
    for h in (1.0, 5.0, 15.0):
        vals = np.array([_profile(profiles, h=h, bg=bg).set_index("distance_m")[DEP]
                         .loc[25:2000].to_numpy() for bg in bgs])
        assert np.all(np.diff(vals, axis=0) < 0), f"h={h}"


def test_receptor_roughness_raises_deposition(profiles):
    rz = sorted(profiles.loc[profiles.case_tag == "rz_oat", "receptor_z0_m"].unique())
    vals = [_profile(profiles, rz=r).set_index("distance_m")[DEP].loc[100:1000].mean() for r in rz]
    assert np.all(np.diff(vals) > 0)


# --- against the shared reference -----------------------------------------------------------


@pytest.mark.skipif(not REF_PROFILE.is_file(), reason=f"{REF_PROFILE} absent (../shared)")
@pytest.mark.parametrize("h,lu,z0", [(5.0, "grass", 0.1), (5.0, "arable", 0.25),
                                     (10.0, "grass", 0.25), (10.0, "arable", 0.1)])
def test_profile_equals_shared_reference(profiles, h, lu, z0):
    ref = pd.read_csv(REF_PROFILE)
    ref = ref[(ref.source_height_m == h) & (ref.receptor_landuse == lu)
              & np.isclose(ref.z0_m, z0)].sort_values("distance_m")
    got = _profile(profiles, h=h, lu=lu, z0=z0)
    assert len(ref) == len(got) == 104
    np.testing.assert_allclose(got.distance_m.to_numpy(), ref.distance_m.to_numpy())
    np.testing.assert_allclose(got[DEP].to_numpy(), ref[DEP].to_numpy(), rtol=0.02)
