"""Map sizes and load times on the national-sized sample.

Runs zones, overlay, deposition, RKO and the maps on the national sample (generated once
under data/raw/national), then prints the HTML size of the national map and of every area
map (goals: national < 15 MB, each area < 5 MB) and the time to the page's load event in
headless Chromium with the network blocked (self-contained maps). Screenshots go to
data/processed/national/report/screenshots/.

Usage: .venv/bin/python benchmarks/bench_maps.py
"""

from __future__ import annotations

import time
from pathlib import Path

from _common import REPO, national_sample, quiet_logging, timed

from n2kzones.config import load_config

CHROMIUM = Path("/usr/bin/chromium")


def national_config(raw: Path, out: Path) -> Path:
    text = (REPO / "config" / "sample.toml").read_text()
    text = text.replace('"data/raw/sample/', f'"{raw}/')
    text = text.replace('output_dir = "data/processed"', f'output_dir = "{out}"')
    text = text.replace(
        'overrides_csv = "config/sample_zone_widths.csv"',
        "# no official list for the national sample",
    )
    text = text.replace("n_wide = 2", "n_wide = 15")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "config.toml"
    path.write_text(text)
    return path


def load_times(paths: list[Path], shots: Path) -> list[tuple[str, float]]:
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        for path in paths:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.route("http*://**", lambda route: route.abort())
            t0 = time.perf_counter()
            page.goto(path.as_uri(), wait_until="load", timeout=120_000)
            rows.append((path.name, time.perf_counter() - t0))
            page.screenshot(path=str(shots / f"{path.stem}.png"))
            page.close()
        browser.close()
    return rows


def main() -> None:
    quiet_logging()
    from n2kzones.stages.deposition import run_deposition
    from n2kzones.stages.maps import run_maps
    from n2kzones.stages.overlay import run_overlay
    from n2kzones.stages.rko import run_rko
    from n2kzones.stages.zones import run_zones

    raw = national_sample()
    out = REPO / "data" / "processed" / "national"
    cfg = load_config(national_config(raw, out))
    stages = (
        ("zones", run_zones),
        ("overlay", run_overlay),
        ("deposition", run_deposition),
        ("rko", run_rko),
    )
    for name, fn in stages:
        _, t = timed(fn, cfg)
        print(f"stage {name:11s} {t:7.1f} s", flush=True)
    maps, t = timed(run_maps, cfg, self_contained=True)
    print(f"stage maps        {t:7.1f} s ({len(maps)} files)")
    sizes = {p.name: p.stat().st_size / 1e6 for p in maps if p.suffix == ".html"}
    national = sizes.pop("index.html")
    worst = max(sizes, key=sizes.get)
    print(f"\nnational map index.html: {national:.2f} MB (goal < 15 MB)")
    median_mb = sorted(sizes.values())[len(sizes) // 2]
    n_over = sum(v > 5 for v in sizes.values())
    print(f"area maps: {len(sizes)}, median {median_mb:.2f} MB, "
          f"largest {worst} {sizes[worst]:.2f} MB (goal < 5 MB each); over 5 MB: {n_over}")
    if CHROMIUM.exists():
        maps_dir = out / "maps"
        pages = [maps_dir / "index.html", maps_dir / worst]
        for name, secs in load_times(pages, out / "report" / "screenshots"):
            print(f"load event in headless Chromium: {name:24s} {secs:6.2f} s")
    else:
        print("chromium not installed: load times not measured")


if __name__ == "__main__":
    main()
