"""n2kzones.datasets.realdata against small fixtures in the official schemas; never the network."""

from __future__ import annotations

import hashlib
import io
import urllib.error
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import Polygon, box

from n2kzones.datasets import realdata
from n2kzones.errors import N2kError


def _pdok_geojson(path: Path) -> Path:
    """Three Natura 2000 features as the PDOK WFS sends them (EPSG:4326; a Birds-only site)."""
    def square(lon, lat, d=0.01):
        return Polygon([(lon, lat), (lon + d, lat), (lon + d, lat + d), (lon, lat + d)])

    gdf = gpd.GeoDataFrame(
        {
            "naamN2K": ["Veluwe", "Oostelijke Vechtplassen", "Markermeer"],
            "nr": [57, 95, 73],
            "sitecodeH": ["NL2003023", "NL2003011", ""],
            "sitecodeV": ["NL3009017", "NL9803012", "NL9802001"],
        },
        geometry=[square(5.8, 52.1), square(5.05, 52.2), square(5.3, 52.5)],
        crs="EPSG:4326",
    )
    gdf.to_file(path, driver="GeoJSON")
    return path


class _FakeOpener:
    """Serves bytes for URLs from a dict; unknown URLs fail like a machine without network."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.calls: list[str] = []

    def __call__(self, url: str, timeout: float):
        self.calls.append(url)
        if url not in self.files:
            raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))
        return io.BytesIO(self.files[url])


@pytest.fixture()
def served(monkeypatch, tmp_path):
    fixture = _pdok_geojson(tmp_path / "fixture.geojson").read_bytes()
    opener = _FakeOpener({"https://example.test/n2000.json": fixture})
    monkeypatch.setattr(realdata, "fetch", opener)
    return opener, fixture


def test_download_writes_atomically_and_checks_sha(served, tmp_path):
    opener, data = served
    dest = tmp_path / "dl" / "n2000.geojson"
    good = hashlib.sha256(data).hexdigest()
    out = realdata.download("https://example.test/n2000.json", dest, sha256=good)
    assert out == dest and dest.read_bytes() == data
    assert [p.name for p in dest.parent.iterdir()] == ["n2000.geojson"]  # no leftover .part

    # A mismatching checksum: an error naming both sums, the earlier file untouched, no temp.
    dest.write_bytes(b"previous version")
    with pytest.raises(realdata.DownloadError, match="checksum mismatch") as info:
        realdata.download("https://example.test/n2000.json", dest, sha256="0" * 64)
    assert good in str(info.value)
    assert dest.read_bytes() == b"previous version"
    assert [p.name for p in dest.parent.iterdir()] == ["n2000.geojson"]


def test_no_network_error_is_clear(served, tmp_path):
    dest = tmp_path / "x.gpkg"
    with pytest.raises(realdata.DownloadError) as info:
        realdata.download("https://offline.test/brp.gpkg", dest)
    msg = str(info.value)
    assert "network" in msg and "https://offline.test/brp.gpkg" in msg and str(dest) in msg
    assert isinstance(info.value, N2kError) and isinstance(info.value, OSError)
    assert not dest.exists() and list(tmp_path.iterdir()) == [tmp_path / "fixture.geojson"]


def test_no_network_via_cli_exit_code(served, tmp_path, capsys):
    rc = realdata.main(["natura2000", "--out", str(tmp_path / "real"), "--url", "natura2000=https://offline.test/x"])
    assert rc == 2
    assert "network" in capsys.readouterr().err


def test_convert_pdok_geojson_to_rd_new_geopackage(tmp_path):
    src = _pdok_geojson(tmp_path / "natura2000_pdok.geojson")
    source = realdata.SOURCES["natura2000"]
    out = realdata.convert(source, src, tmp_path / "real")
    assert out == tmp_path / "real" / "natura2000.gpkg"
    gdf = gpd.read_file(out, layer="natura2000")
    assert gdf.crs.to_epsg() == 28992
    assert list(gdf.columns[:4]) == ["site_code", "name", "nitrogen_sensitive", "area_number"]
    # sitecodeH wins; a blank one falls back to sitecodeV
    assert sorted(gdf["site_code"]) == ["NL2003011", "NL2003023", "NL9802001"]
    assert set(gdf["name"]) == {"Veluwe", "Oostelijke Vechtplassen", "Markermeer"}
    assert gdf["nitrogen_sensitive"].all()
    minx, miny, maxx, maxy = gdf.total_bounds  # RD New metres, inside the Netherlands
    assert 0 < minx < maxx < 300_000 and 300_000 < miny < maxy < 625_000
    # ~0.01 degree squares are ~0.8 km2 at 52 N
    assert gdf.area.between(0.6e6, 0.9e6).all()


def test_verify_checks_schema_and_row_count(tmp_path):
    src = _pdok_geojson(tmp_path / "n.geojson")
    source = realdata.SOURCES["natura2000"]
    with pytest.raises(N2kError, match="truncated"):
        realdata.verify(source, src)  # 3 features < 150
    small = realdata.Source(**{**source.__dict__, "min_rows": 3})
    check = realdata.verify(small, src)
    assert check.n_rows == 3 and "site_code" in check.columns
    assert check.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()

    wrong = tmp_path / "wrong.geojson"  # EEA-style columns, not the PDOK schema
    gpd.GeoDataFrame({"SITECODE": ["NL1"]}, geometry=[box(5, 52, 5.01, 52.01)], crs="EPSG:4326").to_file(wrong)
    with pytest.raises(N2kError, match="site_code"):
        realdata.verify(small, wrong)


def test_end_to_end_with_served_fixture(served, tmp_path):
    opener, data = served
    source = realdata.Source(**{**realdata.SOURCES["natura2000"].__dict__,
                                "url": "https://example.test/n2000.json", "min_rows": 3})
    path = realdata.fetch_source(source, tmp_path / "dl")
    assert path.read_bytes() == data and opener.calls == ["https://example.test/n2000.json"]
    out = realdata.convert(source, path, tmp_path / "real")
    assert pyogrio.list_layers(out)[:, 0].tolist() == ["natura2000"]


def test_atom_feed_resolves_brp_geopackage(monkeypatch):
    feed = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">
      <entry><link href="https://x.test/downloads/brpgewaspercelen_definitief_2022.gpkg"/></entry>
      <entry><link href="https://x.test/downloads/brpgewaspercelen_concept_2024.gpkg"/></entry>
    </feed>"""
    opener = _FakeOpener({realdata.PDOK_BRP_ATOM: feed})
    monkeypatch.setattr(realdata, "fetch", opener)
    pattern = realdata.SOURCES["brp"].atom_pattern.format(year=2024)
    assert realdata.resolve_atom(realdata.PDOK_BRP_ATOM, pattern).endswith("concept_2024.gpkg")
    any_year = realdata.SOURCES["brp"].atom_pattern.format(year=r"\d{4}")
    assert realdata.resolve_atom(realdata.PDOK_BRP_ATOM, any_year).endswith("concept_2024.gpkg")
    with pytest.raises(realdata.DownloadError, match="no download link"):
        realdata.resolve_atom(realdata.PDOK_BRP_ATOM, realdata.SOURCES["brp"].atom_pattern.format(year=1999))


def test_sources_are_documented():
    for s in realdata.SOURCES.values():
        assert s.landing_page.startswith("https://")
        assert s.url or s.atom_feed or s.kind == "raster"
        assert s.name in (realdata.__doc__ or "")


def test_list_runs_offline(capsys):
    assert realdata.main(["--list"]) == 0
    assert "service.pdok.nl/rvo/natura2000" in capsys.readouterr().out
