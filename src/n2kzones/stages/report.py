"""Stage ``report``: ``report/index.html`` with figures, links to the maps and the tables."""

from __future__ import annotations

import os

from n2kzones.config import Config
from n2kzones.io.writers import read_csv
from n2kzones.render.report import LINKED, render_report
from n2kzones.stages.catalogue import OUTPUTS
from n2kzones.stages.common import config_name, data_date
from n2kzones.stages.framework import stage_run
from n2kzones.stages.manifest import read_manifest

#: Tables the report draws figures from (catalogue keys).
FIGURE_TABLES = ("rko_sweep", "area_deposition", "zone_proposal", "scenarios")


def run_report(cfg: Config) -> os.PathLike:
    """Stage ``report``; returns the path of ``report/index.html``."""
    root = cfg.output_dir
    with stage_run(cfg, "report") as run:
        flavour = cfg.project.csv_flavour
        tables = {
            k: read_csv(run.upstream(k), flavour, dtype={"site_code": str}) for k in FIGURE_TABLES
        }
        report_dir = root / OUTPUTS["report"].path
        rel = os.path.relpath(root, report_dir).replace(os.sep, "/")
        links = [
            (f"{rel}/{OUTPUTS[k].path}", OUTPUTS[k].path, OUTPUTS[k].description)
            for k in LINKED
            if (root / OUTPUTS[k].path).exists()
        ]
        maps_dir = run.upstream("maps")
        maps_rel = f"{rel}/{OUTPUTS['maps'].path}"
        pages = [(f"{maps_rel}/index.html", "National overview")] if (maps_dir / "index.html").exists() else []
        pages += [(f"{maps_rel}/{p.name}", p.stem.removeprefix("area_")) for p in sorted(maps_dir.glob("area_*.html"))]
        maps_manifest = read_manifest(root, "maps") or {}
        render_report(
            run.output("report"), tables=tables, links=links, map_pages=pages,
            data_date=data_date(root), config_name=config_name(cfg),
            outside_grid={
                k: list(maps_manifest.get(k, []))
                for k in ("areas_outside_grid", "areas_partly_outside_grid")
            },
        )
    return report_dir / "index.html"
