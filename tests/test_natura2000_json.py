"""Tests for n2kzones.io.natura2000_json (per-area JSON layout of the Dutch N2000 areas)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import shapely

from n2kzones.errors import InputError
from n2kzones.io.natura2000_json import read_natura2000_json

LOGGER = "n2kzones.io.natura2000_json"

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_REAL = REPO_ROOT.parent / "shared" / "data" / "real"
REAL_GEBIEDEN = SHARED_REAL / "natura2000-nl-pdok-rce" / "gebieden"
PROVENANCE = SHARED_REAL / "PROVENANCE.md"

URI = "https://linkeddata.cultureelerfgoed.nl/rce/natura2000/id/x"
WIKI = "http://www.wikidata.org/entity/Q1"


def _box(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def _line(nr: int, directive: str, birds: str, habitats: str, flag: str) -> str:
    fields = [str(nr), URI, directive, "omschrijving", birds, habitats, flag, "besluit", WIKI]
    return "|".join(fields)


def _write_area(
    root: Path,
    slug: str,
    richtlijn: list[str],
    geometrie: dict | None = None,
    data: dict | None = None,
) -> Path:
    folder = root / slug
    folder.mkdir(parents=True)
    (folder / "richtlijn-raw.txt").write_text("\n".join(richtlijn) + "\n", encoding="utf-8")
    if geometrie is not None:
        (folder / "geometrie.json").write_text(json.dumps(geometrie), encoding="utf-8")
    if data is not None:
        (folder / "data.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """Three areas in the real layout, with areas and flags known exactly."""
    root = tmp_path / "gebieden"
    # alpha: geometrie.json, one part with a hole plus a second part sharing an edge;
    # two richtlijn lines (first flag true, second false: first wins; codes combined).
    _write_area(
        root,
        "alpha",
        [
            _line(12, "VR+HR", "NL3009001", "NL2003001", "true"),
            _line(12, "HR", "-", "NL2003001", "false"),
        ],
        geometrie={
            "naam": "Alpha",
            "slug": "alpha",
            "polys": [
                [_box(5.0, 52.0, 5.1, 52.1), _box(5.02, 52.02, 5.04, 52.04)],
                [_box(5.1, 52.0, 5.2, 52.1)],
            ],
            "bbox": [5.0, 52.0, 5.2, 52.1],
        },
    )
    # beta: data.json, flat rings listed hole-first: exterior, hole, island in the hole,
    # and a separate exterior. Birds directive only, flag '-'.
    _write_area(
        root,
        "beta",
        [_line(7, "VR", "NL3009002", "-", "-")],
        data={
            "gebied": "Beta",
            "n2000": [
                {
                    "naam": "Beta",
                    "rings": [
                        _box(6.02, 52.02, 6.06, 52.06),
                        _box(6.0, 52.0, 6.1, 52.1),
                        _box(6.03, 52.03, 6.04, 52.04),
                        _box(6.2, 52.0, 6.25, 52.05),
                    ],
                }
            ],
            "mons": [],
            "richtlijn": {"gebiedsnummer": "7"},
        },
    )
    # gamma: a self-intersecting (bow-tie) polygon, repaired into two triangles.
    _write_area(
        root,
        "gamma",
        [_line(30, "HR", "-", "NL9801003", "false")],
        geometrie={
            "naam": "Gamma",
            "slug": "gamma",
            "polys": [[[[4.0, 51.0], [4.1, 51.1], [4.1, 51.0], [4.0, 51.1], [4.0, 51.0]]]],
            "bbox": [4.0, 51.0, 4.1, 51.1],
        },
    )
    return root


# --------------------------------------------------------------------------------------
# tiny fixtures


def test_tiny_attributes(tiny: Path) -> None:
    gdf = read_natura2000_json(tiny)
    assert list(gdf.columns) == [
        "area_number",
        "site_code",
        "site_code_birds",
        "site_code_habitats",
        "name",
        "slug",
        "directive",
        "nitrogen_sensitive",
        "geometry",
    ]
    assert gdf.crs.to_epsg() == 4326
    assert gdf["area_number"].tolist() == [7, 12, 30]  # sorted by area number
    assert gdf["area_number"].dtype == np.int64
    assert gdf["nitrogen_sensitive"].dtype == bool
    assert gdf["nitrogen_sensitive"].tolist() == [False, True, False]
    assert gdf["name"].tolist() == ["Beta", "Alpha", "Gamma"]
    assert gdf["slug"].tolist() == ["beta", "alpha", "gamma"]
    assert gdf["site_code"].tolist() == ["NL3009002", "NL2003001", "NL9801003"]
    assert gdf["site_code_birds"].tolist() == ["NL3009002", "NL3009001", None]
    assert gdf["site_code_habitats"].tolist() == [None, "NL2003001", "NL9801003"]
    assert gdf["directive"].tolist() == ["VR", "VR+HR", "HR"]


def test_tiny_geometries(tiny: Path) -> None:
    gdf = read_natura2000_json(tiny).set_index("slug")
    assert (gdf.geom_type == "MultiPolygon").all()
    assert gdf.is_valid.all()
    assert not gdf.is_empty.any()

    # alpha: two touching parts dissolved into one polygon keeping the hole
    alpha = gdf.geometry["alpha"]
    assert len(alpha.geoms) == 1
    assert len(alpha.geoms[0].interiors) == 1
    assert alpha.area == pytest.approx(0.2 * 0.1 - 0.02 * 0.02, rel=1e-9)
    assert alpha.bounds == pytest.approx((5.0, 52.0, 5.2, 52.1))

    # beta: even-odd over the flat rings: exterior - hole + island + separate exterior
    beta = gdf.geometry["beta"]
    assert beta.area == pytest.approx(0.01 - 0.0016 + 0.0001 + 0.0025, rel=1e-9)
    assert not beta.contains(shapely.Point(6.05, 52.05))  # in the hole
    assert beta.contains(shapely.Point(6.035, 52.035))  # on the island
    assert beta.contains(shapely.Point(6.01, 52.01))
    assert beta.contains(shapely.Point(6.22, 52.02))
    assert len(beta.geoms) == 3

    # gamma: the bow-tie becomes two triangles
    gamma = gdf.geometry["gamma"]
    assert len(gamma.geoms) == 2
    assert gamma.area == pytest.approx(2 * 0.1 * 0.05 / 2, rel=1e-9)


def test_tiny_logs_repairs_and_missing_flag(tiny: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    read_natura2000_json(tiny)
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    summary = [m for m in messages if m.startswith("read 3 Natura 2000 areas")]
    assert len(summary) == 1
    assert "2 areas repaired" in summary[0]
    assert "1 polygon parts/rings made valid" in summary[0]
    assert "1 areas with touching or overlapping parts dissolved" in summary[0]
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Beta" in warnings[0].getMessage() and "'-'" in warnings[0].getMessage()


def test_parent_folder_is_accepted(tiny: Path) -> None:
    assert len(read_natura2000_json(tiny.parent)) == 3
    assert len(read_natura2000_json(str(tiny))) == 3


def test_geometrie_json_preferred_over_data_json(tmp_path: Path) -> None:
    root = tmp_path / "gebieden"
    _write_area(
        root,
        "delta",
        [_line(1, "HR", "-", "NL2003009", "true")],
        geometrie={"naam": "Delta", "slug": "delta", "polys": [[_box(5, 52, 5.1, 52.1)]]},
        data={"n2000": [{"naam": "Delta", "rings": [_box(6, 52, 6.5, 52.5)]}]},
    )
    gdf = read_natura2000_json(root)
    assert gdf.geometry.iloc[0].bounds == pytest.approx((5, 52, 5.1, 52.1))


# --------------------------------------------------------------------------------------
# errors


def test_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(InputError, match="does not exist") as info:
        read_natura2000_json(missing)
    assert str(missing) in str(info.value)


def test_folder_without_areas(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no area folders"):
        read_natura2000_json(tmp_path)


def test_area_without_geometry_file(tiny: Path) -> None:
    _write_area(tiny, "epsilon", [_line(99, "HR", "-", "NL2003099", "true")])
    with pytest.raises(InputError, match="neither geometrie.json nor data.json") as info:
        read_natura2000_json(tiny)
    assert str(tiny / "epsilon") in str(info.value)


def test_area_without_richtlijn(tiny: Path) -> None:
    (tiny / "alpha" / "richtlijn-raw.txt").unlink()
    with pytest.raises(InputError, match="richtlijn-raw.txt is missing"):
        read_natura2000_json(tiny)


@pytest.mark.parametrize("name", ["geometrie.json", "data.json"])
def test_unparsable_json(tiny: Path, name: str) -> None:
    folder = tiny / ("alpha" if name == "geometrie.json" else "beta")
    (folder / name).write_text('{"naam": "x", "polys": [[[', encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON") as info:
        read_natura2000_json(tiny)
    assert str(folder / name) in str(info.value)


def test_json_without_geometry_key(tiny: Path) -> None:
    (tiny / "alpha" / "geometrie.json").write_text('{"naam": "Alpha"}', encoding="utf-8")
    with pytest.raises(InputError, match="no 'polys' list"):
        read_natura2000_json(tiny)


def test_projected_coordinates_rejected(tiny: Path) -> None:
    doc = {"naam": "Alpha", "polys": [[_box(150000, 450000, 151000, 451000)]]}
    (tiny / "alpha" / "geometrie.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError, match="lon/lat"):
        read_natura2000_json(tiny)


@pytest.mark.parametrize(
    "line",
    [
        "12|uri|HR|omschrijving|-|NL2003001|true|besluit",  # 8 columns
        "12|uri|HR|omschrijving|-|NL2003001|true|besluit|wiki|extra",  # 10 columns
    ],
)
def test_richtlijn_wrong_column_count(tiny: Path, line: str) -> None:
    path = tiny / "alpha" / "richtlijn-raw.txt"
    path.write_text(_line(12, "VR+HR", "NL3009001", "NL2003001", "true") + "\n" + line + "\n")
    with pytest.raises(InputError, match=r"line 2: expected 9 '\|'-separated columns") as info:
        read_natura2000_json(tiny)
    assert str(path) in str(info.value)


def test_richtlijn_bad_flag(tiny: Path) -> None:
    (tiny / "gamma" / "richtlijn-raw.txt").write_text(_line(30, "HR", "-", "NL9801003", "ja"))
    with pytest.raises(InputError, match="nitrogen-sensitive flag 'ja'"):
        read_natura2000_json(tiny)


def test_richtlijn_without_site_code(tiny: Path) -> None:
    (tiny / "gamma" / "richtlijn-raw.txt").write_text(_line(30, "HR", "-", "-", "true"))
    with pytest.raises(InputError, match="no Birds- nor Habitats-directive site code"):
        read_natura2000_json(tiny)


def test_duplicate_area_number(tiny: Path) -> None:
    (tiny / "gamma" / "richtlijn-raw.txt").write_text(_line(12, "HR", "-", "NL9801003", "true"))
    with pytest.raises(InputError, match="area number 12 occurs in both"):
        read_natura2000_json(tiny)


# --------------------------------------------------------------------------------------
# real data

real_data = pytest.mark.skipif(
    not REAL_GEBIEDEN.is_dir(), reason=f"real Natura 2000 data not found at {REAL_GEBIEDEN}"
)


@pytest.fixture(scope="module")
def real_areas():
    return read_natura2000_json(REAL_GEBIEDEN)


@pytest.mark.real_data
@real_data
def test_real_counts(real_areas) -> None:
    assert len(real_areas) == 160
    assert real_areas["area_number"].is_unique
    assert real_areas["site_code"].str.match(r"^NL\d{7}$").all()
    # PROVENANCE.md: first line per area: 128 true, 31 false, 1 '-'
    assert "128 true, 31 false, 1 `-`" in PROVENANCE.read_text(encoding="utf-8")
    assert int(real_areas["nitrogen_sensitive"].sum()) == 128


@pytest.mark.real_data
@real_data
def test_real_geometries(real_areas) -> None:
    geoms = real_areas.geometry
    assert (geoms.geom_type == "MultiPolygon").all()
    assert geoms.is_valid.all()
    assert not geoms.is_empty.any()
    minx, miny, maxx, maxy = geoms.total_bounds
    assert 2.7 <= minx and maxx <= 7.3
    assert 50.7 <= miny and maxy <= 55.7


@pytest.mark.real_data
@pytest.mark.slow
@real_data
def test_real_buffers_in_rd_new(real_areas) -> None:
    rd = real_areas.to_crs(28992).geometry.values
    area = shapely.area(rd)
    ring = {}
    for width in (500.0, 1000.0):
        buffered = shapely.buffer(rd, width, quad_segs=16)
        assert shapely.is_valid(buffered).all()
        assert not shapely.is_empty(buffered).any()
        ring[width] = shapely.area(buffered) - area
    names = real_areas["name"].to_numpy()
    assert (ring[500.0] > 0).all(), names[ring[500.0] <= 0]
    assert (ring[1000.0] > ring[500.0]).all(), names[ring[1000.0] <= ring[500.0]]
