"""Shared fixtures: small constructed layers with known answers, the generated sample region
(once per test session, shared between xdist workers), and the ../shared real data."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL = SHARED / "data" / "real"
REFERENCE = SHARED / "data" / "reference"
RD = "EPSG:28992"


def require_shared(path: Path) -> Path:
    """Skip (with the reason) where the ../shared data are absent, e.g. on a user's machine."""
    if not path.exists():
        pytest.skip(f"real/reference data not available here ({path} is absent)")
    return path


@pytest.fixture(scope="session")
def real_dir() -> Path:
    return require_shared(REAL)


@pytest.fixture
def two_squares() -> gpd.GeoDataFrame:
    """Two 1 km squares 800 m apart (their 500 m zones overlap in a 200 m strip and a lens)."""
    return gpd.GeoDataFrame(
        {"site_code": ["A", "B"], "name": ["Area A", "Area B"], "nitrogen_sensitive": [True, True]},
        geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1800, 0, 2800, 1000)],
        crs=RD,
    )


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample region (scale 1, default seed), generated once and shared by all workers."""
    from n2kzones.datasets.sample import generate_sample

    root = tmp_path_factory.getbasetemp().parent  # shared by xdist workers of one run
    out = root / "sample-region"
    with open(root / "sample-region.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "manifest.json").exists():
            generate_sample(out)
    return out


@pytest.fixture(scope="session")
def sample_config(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A validated config pointing at the generated sample, writing into a temp folder."""
    from n2kzones.config import load_config

    text = (REPO / "config" / "sample.toml").read_text()
    text = text.replace('"data/raw/sample/', f'"{sample_dir}/').replace('"config/', f'"{REPO}/config/')
    out = tmp_path_factory.mktemp("processed")
    text = text.replace('output_dir = "data/processed"', f'output_dir = "{out}"')
    path = out / "config.toml"
    path.write_text(text)
    return load_config(path)


@pytest.fixture(scope="session")
def sample_overlay(sample_config):
    """Run the zones and overlay stages once on the sample; returns the config."""
    from n2kzones.stages.overlay import run_overlay
    from n2kzones.stages.zones import run_zones

    run_zones(sample_config)
    run_overlay(sample_config)
    return sample_config


def read_manifest(path: Path) -> dict:
    return json.loads(path.read_text())
