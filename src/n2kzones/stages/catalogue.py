"""The output catalogue: every file a stage writes, every column another stage reads.

This is the one place that spells output file names, which stage writes them, which stages
read them, and the names of columns that cross a stage boundary (the RKO threshold flags
among them). Stages, the ``deps`` command behind the Makefile and the tests take names from
here, so a renamed file or column cannot leave a map layer silently empty.

Paths are relative to the config's ``[project] output_dir`` and use ``/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from n2kzones.habitats import HABITAT_SOURCE_COLUMN
from n2kzones.io.writers import safe_file_stem
from n2kzones.zones import ZONE_WIDTH_COLUMN

#: The pipeline's stages in the order ``n2kzones run`` executes them.
STAGES: tuple[str, ...] = ("zones", "overlay", "deposition", "rko", "select", "scenario", "policy", "maps", "report")


@dataclass(frozen=True)
class Output:
    """One output of a stage.

    Attributes
    ----------
    key
        Name other code uses for it.
    stage
        Stage that writes it.
    path
        Path relative to the output folder; ``{name}`` is filled in for outputs written once
        per item (a scenario).
    description
        What it holds, with units.
    columns
        Columns that other stages read (a contract: the writer must provide them).
    optional
        Written only when the config asks for it (e.g. RKO projects).
    """

    key: str
    stage: str
    path: str
    description: str
    columns: tuple[str, ...] = ()
    optional: bool = False


_OUTPUTS = (
    # zones
    Output("areas", "zones", "stages/areas.parquet", "protected areas with their zone width (m)",
           ("site_code", "name", "nitrogen_sensitive", ZONE_WIDTH_COLUMN, "geometry")),
    Output("zones_by_area", "zones", "stages/zones_by_area.parquet", "zone ring and inner part per area",
           ("site_code", "part", "width_m", "geometry")),
    Output("zones", "zones", "stages/zones.parquet", "national zone layer: faces with every area they belong to",
           ("zone_key", "geometry")),
    # overlay
    Output("parcel_pieces", "overlay", "stages/parcel_pieces.parquet",
           "parcels cut by zone membership (file, or a folder of partitions on Dask)", ("zone_key", "geometry")),
    Output("farms", "overlay", "stages/farms.parquet", "farms with zone, distance, GVE/ha, grassland share",
           ("farm_id", "emission_kg_nh3", "zone_key", "nearest_site_code", "geometry")),
    Output("overlay_gpkg", "overlay", "n2kzones.gpkg",
           "GeoPackage: areas, zones, zones_by_area, parcel_pieces, farms; "
           "QGIS styles in layer_styles"),
    Output("area_summary", "overlay", "area_summary.csv", "land use (ha), farms and NH3 (kg/yr) per area and zone part"),
    Output("farm_summary", "overlay", "farm_summary.csv", "farms: zone, distance (m), GVE/ha, grassland share"),
    # deposition
    Output("receptors", "deposition", "stages/receptors.parquet",
           "hexagon receptors with KDW, farm and total deposition (mol N/ha/yr)",
           ("receptor_id", "site_code", "habitat_ha", "kdw_mol_ha", "total_mol_ha", "farms_mol_ha", "geometry")),
    Output("deposition_gpkg", "deposition", "deposition.gpkg",
           "GeoPackage layer receptors; QGIS style in layer_styles"),
    Output("area_deposition", "deposition", "area_deposition.csv",
           "deposition and (near) overload per area, and where its habitat came from",
           ("site_code", "habitat_source")),
    Output("deposition_farms_tif", "deposition", "deposition_farms.tif", "farm deposition grid (mol N/ha/yr)"),
    Output("deposition_total_tif", "deposition", "deposition_total.tif", "total deposition grid (mol N/ha/yr)"),
    Output("exceedance_tif", "deposition", "exceedance.tif", "total minus KDW on sensitive habitat (mol N/ha/yr)"),
    Output("deposition_farms_qml", "deposition", "deposition_farms.qml",
           "QGIS style of deposition_farms.tif"),
    Output("deposition_total_qml", "deposition", "deposition_total.qml",
           "QGIS style of deposition_total.tif"),
    Output("exceedance_qml", "deposition", "exceedance.qml", "QGIS style of exceedance.tif"),
    # rko
    Output("rko_sweep", "rko", "rko_sweep.csv", "RKO threshold sweep, national"),
    Output("rko_by_area", "rko", "rko_by_area.csv", "RKO threshold sweep per area"),
    Output("rko_sources", "rko", "rko_sources.gpkg", "largest contribution per source and its RKO flags",
           ("farm_id",)),
    Output("rko_projects", "rko", "rko_projects.csv", "permit-free projects per range x threshold", optional=True),
    # select
    Output("zone_proposal", "select", "zone_proposal.csv",
           "proposed zone widths (m) and the deposition behind them; zone_width_m is the width "
           "in force (the zones stage's, which the maps draw)",
           ("site_code", "proposed_width_m", "final_width_m", ZONE_WIDTH_COLUMN)),
    # scenario
    Output("scenarios", "scenario", "scenarios.csv", "scenario effects per area and ALL"),
    Output("zone_effectiveness", "scenario", "zone_effectiveness.csv", "effect of a kg cut inside vs outside the zones"),
    Output("scenario_farms", "scenario", "scenario_farms.csv",
           "emission cut (kg NH3/yr) per farm and scenario, farms with a cut only",
           ("scenario", "farm_id", "nh3_reduced_kg")),
    Output("scenario_receptors", "scenario", "stages/scenario_{name}.parquet",
           "receptor deposition (mol N/ha/yr) of one scenario", optional=True),
    # policy
    Output("policy_area_thresholds", "policy", "policy_area_thresholds.csv",
           "largest area-specific threshold (mol N/ha/yr) per area for the [policy] bound, binding receptor, "
           "permit-free sources and NH3 (kg/yr)",
           ("site_code", "area_threshold_mol_ha", "all_sources_fit", "permit_free_sources", "permit_free_nh3_kg")),
    Output("policy_thresholds", "policy", "policy_thresholds.csv",
           "named, relative (% of KDW) and absolute threshold rules, national (ALL) and per area: "
           "permit-free sources and NH3 and their summed deposition (mol N/ha/yr)",
           ("rule", "site_code", "kind", "source", "n_sources_below", "emission_below_kg_nh3", "max_sum_mol_ha")),
    Output("policy_reductions", "policy", "policy_reductions.csv",
           "extra zone reduction (percentage points of current emission, on top of the baseline "
           "scenario) each area needs to reach each [[policy.targets]] target, or that it is out of reach",
           ("site_code", "target", "status", "reachable", "extra_pct_points", "nh3_cut_kg"), optional=True),
    Output("policy_zone_variants", "policy", "policy_zone_variants.csv",
           "zone bases compared per area and nationally (ALL): zone and farmland (ha), farms, NH3 (kg/yr) "
           "and the effect of a kg cut inside against outside",
           ("variant", "site_code", "zone_ha", "farms", "emission_kg_nh3", "ratio_inside_outside"), optional=True),
    # maps and report (folders)
    Output("maps", "maps", "maps", "interactive maps: index.html and one page per area"),
    Output("report", "report", "report",
           "HTML report with figures and an analysis page per area (areas/), PDF on request"),
    Output("farm_sheets", "report", "farm_sheets",
           "one sheet per requested farm (farm_<id>.html and .csv, .pdf on request) and "
           "farm_sheets.csv",
           optional=True),
)

OUTPUTS: dict[str, Output] = {o.key: o for o in _OUTPUTS}

#: Outputs of other stages that each stage reads.
READS: dict[str, tuple[str, ...]] = {
    "zones": (),
    "overlay": ("areas", "zones_by_area", "zones"),
    "deposition": ("areas", "farms"),
    "rko": ("farms", "receptors"),
    "select": ("areas", "farms", "receptors"),
    "scenario": ("areas", "farms", "receptors"),
    "policy": ("areas", "farms", "receptors"),
    "maps": ("areas", "zones_by_area", "zones", "parcel_pieces", "farms", "receptors", "area_deposition",
             "deposition_farms_tif", "exceedance_tif", "rko_sources"),
    "report": ("areas", "farms", "receptors", "area_summary", "farm_summary", "area_deposition",
               "rko_sweep", "rko_by_area", "rko_sources", "zone_proposal", "scenarios",
               "scenario_farms", "zone_effectiveness", "policy_area_thresholds", "policy_thresholds", "policy_reductions", "policy_zone_variants",
               "maps"),
}

#: Config sections (dotted keys) each stage's outputs depend on; ``parameters`` is the resolved
#: parameter table. The engine settings are not here: both engines give identical outputs.
CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "zones": ("project.crs", "project.areas", "project.province", "inputs.areas",
              "inputs.provinces", "zones", "parameters"),
    "overlay": ("project.csv_flavour", "project.csv_headers", "project.language", "project.crs", "inputs.parcels", "inputs.farms",
                "compute.pieces_in_geopackage", "parameters"),
    "deposition": ("project.csv_flavour", "project.csv_headers", "project.language", "project.crs", "inputs.habitats",
                   "inputs.background_deposition", "inputs.nh3_background",
                   "inputs.receptor_landuse", "inputs.receptor_z0", "deposition", "parameters"),
    "rko": ("project.csv_flavour", "project.csv_headers", "project.language", "project.crs", "deposition", "rko", "parameters"),
    "select": ("project.csv_flavour", "project.csv_headers", "project.language", "inputs.habitats", "deposition", "selection",
               "zones.overrides", "zones.overrides_csv", "zones.default_width_m",
               "parameters"),
    "scenario": ("project.csv_flavour", "project.csv_headers", "project.language", "project.crs", "deposition", "scenarios",
                 "effectiveness_cut_pct", "parameters"),
    "policy": ("project.csv_flavour", "project.csv_headers", "project.language", "project.crs", "inputs.habitats", "inputs.parcels",
               "deposition", "zones", "scenarios", "effectiveness_cut_pct", "policy", "parameters"),
    "maps": ("project.csv_flavour", "project.csv_headers", "project.language", "project.name", "project.crs", "inputs.habitats", "inputs.context",
             "rko.map_threshold_mol_ha", "rko.ranges_m",
             "parameters"),
    "report": ("project.csv_flavour", "project.csv_headers", "project.language", "project.name", "rko.thresholds_mol_ha", "rko.ranges_m", "rko.map_threshold_mol_ha",
               "zones.default_width_m", "selection.n_wide", "report", "parameters"),
}


#: Column of ``area_deposition`` (and of a habitat layer that has it) saying where an area's
#: habitat came from: :data:`n2kzones.habitats.HABITAT_MAP` for a habitat-type map, or the
#: stand-in's label (:data:`n2kzones.habitats.STANDIN_LABEL`). Report and maps show it.
HABITAT_SOURCE = HABITAT_SOURCE_COLUMN
#: Manifest key (deposition stage) counting areas per ``habitat_source``.
HABITAT_SOURCE_COUNTS = "habitat_source_areas"
#: Band description and unit of each GeoTIFF the pipeline writes (catalogue key -> (description,
#: unit)); written into the file (GDAL band description and unit type, shown by QGIS).
RASTER_BANDS: dict[str, tuple[str, str]] = {
    "deposition_farms_tif": ("nitrogen deposition from the farms (NH3)", "mol N/ha/yr"),
    "deposition_total_tif": ("total nitrogen deposition (background + farms)", "mol N/ha/yr"),
    "exceedance_tif": (
        "exceedance: total deposition minus KDW, on sensitive habitat", "mol N/ha/yr"
    ),
}

#: The QGIS style file (``.qml``, same name: QGIS loads it with the raster) of each GeoTIFF.
RASTER_STYLES: dict[str, str] = {
    "deposition_farms_tif": "deposition_farms_qml",
    "deposition_total_tif": "deposition_total_qml",
    "exceedance_tif": "exceedance_qml",
}
#: GeoPackage layers that carry a default QGIS style in their ``layer_styles`` table.
STYLED_LAYERS: dict[str, tuple[str, ...]] = {
    "overlay_gpkg": ("zones", "parcel_pieces", "farms"),
    "deposition_gpkg": ("receptors",),
}

#: Column with an area's zone width in force (m) in ``areas`` and ``zone_proposal``: the width
#: the zones stage built the rings with. Maps, report and proposal take the width from here
#: (the proposal's ``proposed_width_m`` / ``final_width_m`` are a recommendation, not the zone).
ZONE_WIDTH = ZONE_WIDTH_COLUMN


def upstream(stage: str) -> tuple[str, ...]:
    """The stages whose outputs ``stage`` reads, in pipeline order."""
    owners = {OUTPUTS[k].stage for k in READS[stage]}
    return tuple(s for s in STAGES if s in owners)


def outputs_of(stage: str) -> tuple[Output, ...]:
    """The outputs ``stage`` writes, in catalogue order."""
    return tuple(o for o in _OUTPUTS if o.stage == stage)


def downstream(stage: str) -> tuple[str, ...]:
    """Every stage that reads ``stage``'s outputs, directly or through another stage."""
    out: list[str] = []
    frontier = [stage]
    while frontier:
        s = frontier.pop()
        for t in STAGES:
            if s in upstream(t) and t not in out:
                out.append(t)
                frontier.append(t)
    return tuple(t for t in STAGES if t in out)


def manifest_name(stage: str) -> str:
    """File name of a stage's manifest, in the output folder (written last: the make target)."""
    return f"manifest_{stage}.json"


def rko_below_column(threshold_mol_ha: float, range_label: str) -> str:
    """Column of ``rko_sources`` flagging sources whose largest contribution is below a threshold.

    Parameters
    ----------
    threshold_mol_ha
        RKO threshold in mol N/ha/yr (the map threshold).
    range_label
        Calculation range label as :func:`n2kzones.rko.range_labels` gives it (``none``,
        ``25km``).
    """
    return f"below_{threshold_mol_ha:g}_{range_label}"


def rko_max_column(range_label: str) -> str:
    """Column of ``rko_sources`` with a source's largest contribution (mol N/ha/yr) per range."""
    return f"max_{range_label}_mol_ha"


#: Files inside the ``report`` folder: the analysis pages per area (``areas/``) and the PDFs.
REPORT_INDEX = "index.html"
AREA_PAGES_DIR = "areas"
REPORT_PDF = "report.pdf"
#: The farm sheets' index inside the ``farm_sheets`` folder (one row per sheet).
FARM_SHEETS_INDEX = "farm_sheets.csv"


def area_page_name(site_code: str, suffix: str = ".html") -> str:
    """File name of an area's analysis page (``suffix`` ``.pdf`` for its PDF), in
    ``report/areas/``; safe for any site code (see :func:`n2kzones.io.writers.safe_file_stem`)."""
    return f"area_{safe_file_stem(str(site_code))}{suffix}"


def farm_sheet_name(farm_id: str, suffix: str = ".html") -> str:
    """File name of a farm's sheet (``.html``, ``.csv`` or ``.pdf``) in ``farm_sheets/``."""
    return f"farm_{safe_file_stem(str(farm_id))}{suffix}"


class OutputFolder:
    """Paths of the outputs in one output folder, by catalogue key.

    ``OutputFolder(root).farms`` is ``root / "stages/farms.parquet"``; ``folder["maps"]`` works
    too, and ``folder.manifest("overlay")`` is the overlay stage's manifest.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __getattr__(self, key: str) -> Path:
        if key in OUTPUTS:
            return self.root / OUTPUTS[key].path
        raise AttributeError(f"no output {key!r} in the catalogue (see n2kzones.stages.catalogue.OUTPUTS)")

    def __getitem__(self, key: str) -> Path:
        return self.__getattr__(key)

    def path(self, key: str, **fmt: str) -> Path:
        """Path of ``key``, with ``{name}`` filled in (per-scenario outputs)."""
        return self.root / OUTPUTS[key].path.format(**fmt)

    def manifest(self, stage: str) -> Path:
        """The manifest of ``stage``."""
        return self.root / manifest_name(stage)


def output_path(root: str | Path, key: str, **fmt: str) -> Path:
    """Path of output ``key`` in output folder ``root`` (``{name}`` filled from ``fmt``)."""
    return OutputFolder(root).path(key, **fmt)
