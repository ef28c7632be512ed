"""Project configuration: one TOML file, validated on load.

A config names the input layers (path, layer, preset and column mapping), the working CRS,
the zone rules and the output folder, and may override any scientific/policy parameter
(see :mod:`n2kzones.params`). Unknown keys and bad values raise :class:`ConfigError` naming
the key and what is allowed; relative paths are resolved against the config file's folder's
parent project (the folder holding ``pyproject.toml`` or, failing that, the config's folder).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Literal

import pyproj
import tomllib
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from n2kzones.errors import ConfigError
from n2kzones.params import Parameters, load_parameters, threshold_preset_names

PRESETS: dict[str, tuple[str, ...]] = {
    "areas": ("n2kzones", "pdok_natura2000", "eea_natura2000", "natura2000_json"),
    "habitats": ("n2kzones", "ndvh_habitat", "aerius_habitat_areas"),
    "parcels": ("n2kzones", "brp_pdok"),
    "farms": ("n2kzones", "igo_veehouderijen", "imaer_gml"),
    "provinces": ("n2kzones", "cbs_provinces"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LayerInput(_Strict):
    """One input layer: where it is and how its columns map to n2kzones' names."""

    path: Path
    layer: str | None = Field(None, description="Layer name in a multi-layer file (GeoPackage).")
    preset: str = Field("n2kzones", description="Column-mapping preset for a known source.")
    columns: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="n2kzones column name -> column in the file (a list: first non-blank).",
    )
    assume_crs: str | None = Field(
        None,
        description="CRS for files that carry none (CSV, a .shp without .prj). Never overrides "
        "a CRS the file has.",
    )
    x_column: str | None = Field(None, description="CSV only: column with x coordinates.")
    y_column: str | None = Field(None, description="CSV only: column with y coordinates.")
    on_duplicate_id: Literal["error", "drop_identical", "suffix"] = Field(
        "drop_identical",
        description="Rows sharing an id: 'error' refuses; 'drop_identical' drops exact copies "
        "(logged) and refuses differing ones; 'suffix' keeps all, renaming repeats id-2, id-3.",
    )
    joined_columns: list[str] | None = Field(
        None,
        description="Columns the publisher joined onto each feature (one row per feature and "
        "joined record): rows sharing an id that differ only in these are one feature, kept once "
        "and counted (on_duplicate_id = 'drop_identical'). Default: the preset's (igo_veehouderijen: "
        "the Natura 2000 area and habitat columns); [] compares every column.",
    )
    on_overlap: Literal["error", "first_wins"] = Field(
        "error",
        description="Parcels (and habitat polygons of one type) that overlap: 'error' refuses, "
        "naming the hectares; 'first_wins' keeps each overlap in the earliest row (source order) "
        "and clips the later ones (counted), so no hectare is counted twice.",
    )


class RasterInput(_Strict):
    path: Path
    assume_crs: str | None = None


class Inputs(_Strict):
    areas: LayerInput
    habitats: LayerInput | None = None
    parcels: LayerInput | None = None
    farms: LayerInput | None = None
    provinces: LayerInput | None = Field(
        None,
        description="Province polygons for [project] province: any polygon layer with a name "
        "column (and optionally a code), e.g. the CBS file provincies_zonder_water.geojson with "
        "preset 'cbs_provinces' (name <- statnaam, code <- statcode).",
    )
    context: list[LayerInput] = Field(
        default_factory=list,
        description="Context layers for the maps ([[inputs.context]], coarsest first, e.g. the "
        "CBS provinces then municipalities, preset 'cbs_provinces'): polygons with a name column, "
        "drawn as outlines with their names in a light built-in layer that works offline "
        "(simplified, so a map stays small). Empty: a frame around the areas and the areas' "
        "names.",
    )
    background_deposition: RasterInput | None = None
    nh3_background: RasterInput | None = Field(
        None, description="NH3 air concentration in ug/m3 at the receptors, for [deposition] kernel = "
        "'ops_classes' (e.g. the GCN grid); without it the uniform value of the parameters is used.",
    )
    receptor_landuse: RasterInput | None = Field(
        None,
        description="OPS/DEPAC land-use class of the receptors, whole numbers 1-9 (1 grass, "
        "2 arable, 3 permanent crops, 4 coniferous forest, 5 deciduous forest, 6 water, 7 urban, "
        "8 heath and other nature, 9 bare soil), for [deposition] kernel = 'ops_classes'. Where "
        "it has no data, or a receptor lies outside it, the class of the receptor's habitat type "
        "([parameters.receptor_classes]) is used, counted in the manifest.",
    )
    receptor_z0: RasterInput | None = Field(
        None,
        description="Roughness length z0 in m at the receptors, for [deposition] kernel = "
        "'ops_classes'. Where it has no data, or a receptor lies outside it, the z0 of the "
        "receptor's land use ([parameters.receptor_classes.z0_m]) is used, counted in the "
        "manifest.",
    )

    @model_validator(mode="after")
    def _known_presets(self) -> Inputs:
        for kind, allowed in PRESETS.items():
            spec = getattr(self, kind)
            if spec is not None and spec.preset not in allowed:
                raise ValueError(
                    f"inputs.{kind}.preset = {spec.preset!r} is not known; "
                    f"allowed: {', '.join(allowed)}"
                )
        for i, spec in enumerate(self.context):
            if spec.preset not in PRESETS["provinces"]:
                raise ValueError(
                    f"inputs.context[{i}].preset = {spec.preset!r} is not known; "
                    f"allowed: {', '.join(PRESETS['provinces'])}"
                )
        return self


class ExtraZoneLayer(_Strict):
    """Another protected-area layer with its own zone rules (e.g. kwetsbare watergebieden)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    input: LayerInput
    width_m: float = Field(ge=0, le=10_000)
    include_inner: bool = False


class ZoneRules(_Strict):
    default_width_m: float | None = Field(
        None, ge=0, le=10_000, description="Width for every area; default from parameters."
    )
    overrides: dict[str, float] = Field(
        default_factory=dict, description="site_code -> width in m (0 = no zone)."
    )
    overrides_csv: Path | None = Field(
        None, description="CSV with columns site_code,width_m; entries in `overrides` win."
    )
    include_inner: bool = Field(
        True, description="Also zone the area itself ('in en rondom'): farmland inside it."
    )
    only_nitrogen_sensitive: bool = Field(
        True, description="Areas not flagged nitrogen-sensitive get no zone."
    )
    quad_segs: int | None = Field(None, ge=4, le=256)
    extra_layers: list[ExtraZoneLayer] = Field(default_factory=list)

    @field_validator("overrides")
    @classmethod
    def _widths_in_range(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: w for k, w in v.items() if not (0 <= w <= 10_000)}
        if bad:
            raise ValueError(f"zone widths must be between 0 and 10000 m, got {bad}")
        return v


def _renamed(data: Any, old: str, new: str, section: str) -> Any:
    """Accept a renamed key under its old name, with a deprecation warning."""
    if isinstance(data, dict) and old in data:
        if new in data:
            raise ValueError(f"[{section}] sets both {old!r} (old name) and {new!r}; keep {new!r}")
        msg = f"[{section}] {old} is deprecated: call it {new} (same values)"
        warnings.warn(msg, DeprecationWarning, stacklevel=2)
        logging.getLogger(__name__).warning(msg)
        data = {**data, new: data[old]}
        del data[old]
    return data


class DepositionSettings(_Strict):
    """How the deposition stage computes (see :mod:`n2kzones.deposition`)."""

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        return _renamed(data, "engine", "implementation", "deposition")

    cell_m: float = Field(100.0, gt=0, le=5000, description="Grid cell size in m (RD New aligned).")
    grid_method: Literal["fft", "direct"] = Field(
        "fft", description="'fft': fast, p99 error <= 2 %; 'direct': exact source positions."
    )
    cutoff_m: float | None = Field(
        None, gt=0, description="Calculation range in m (AERIUS: 25000); none = every pair."
    )
    kernel: Literal["grass", "ops_classes"] = Field(
        "grass",
        description="'grass': one OPS profile (5 m source over grass) for every pair; 'ops_classes': "
        "kernels per source height and receptor land use, z0 and NH3 background (OPS-LT campaign).",
    )
    implementation: Literal["numba", "numpy"] = Field(
        "numba", description="Kernel implementation: 'numba' (fast) or 'numpy' (the reference)."
    )
    kernel_csv: Path | None = Field(None, description="Own radial profile (distance_m, value).")
    kernel_value_column: str | None = None
    wind_rose: str = Field(
        "isotropic", description="'isotropic', 'ops_2005_region5' or a wind-rose JSON path."
    )
    receptor_grid: Literal["aerius", "local"] = Field(
        "aerius",
        description="Receptor hexagons: 'aerius' = AERIUS's 1 ha receptor grid with its receptor ids "
        "(RD New only; outputs join AERIUS Monitor and AERIUS results), 'local' = hexagons of "
        "hexagon_ha laid from RD (0, 0), ids '<column>_<row>'.",
    )
    hexagon_ha: float = Field(
        1.0, gt=0, le=100, description="Receptor hexagon area in ha (receptor_grid = 'local' only; AERIUS: 1)."
    )
    grid_margin_m: float = Field(2000.0, ge=0, description="Grid margin around areas and farms.")


class RkoSettings(_Strict):
    """The RKO (rekenkundige ondergrens) threshold sweep."""

    thresholds_mol_ha: list[float] = Field(
        default_factory=lambda: [0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0],
        description="Thresholds in mol N/ha/yr (0.005 today, 0.05 former PAS, 1 proposed).",
        min_length=1,
    )
    ranges_m: list[float | None] = Field(
        default_factory=lambda: [None, 25_000.0],
        description="Calculation ranges: none (every pair) and AERIUS's 25 km.",
        min_length=1,
    )
    map_threshold_mol_ha: float = Field(0.05, gt=0, description="Threshold shown on maps.")
    projects: LayerInput | None = Field(None, description="Proposed projects (points).")

    @field_validator("thresholds_mol_ha")
    @classmethod
    def _positive_sorted(cls, v: list[float]) -> list[float]:
        if any(t <= 0 for t in v):
            raise ValueError("thresholds must be > 0 mol N/ha/yr")
        return sorted(set(v))


class PolicyTarget(_Strict):
    """A target per area for the required extra reduction in its zone (see
    :mod:`n2kzones.reductions`)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="Name of the target (a label in the tables).")
    kind: Literal["mean_reduction_mol_ha", "overloaded_share_pct", "max_exceedance_mol_ha"] = Field(
        description="'mean_reduction_mol_ha': the mean deposition on the area's sensitive habitat "
        "down by value; 'overloaded_share_pct': value % of its overloaded hectares back under the "
        "KDW; 'max_exceedance_mol_ha': no hectare above KDW + value."
    )
    value: float = Field(description="X mol N/ha/yr (>= 0), Y % (0-100) or Z mol N/ha/yr.")


class PolicySettings(_Strict):
    """The policy stage: thresholds per area, relative and named thresholds (issue 17).

    See :mod:`n2kzones.thresholds` for what is computed and :mod:`n2kzones.stages.policy` for
    the tables written.
    """

    bound_mol_ha: float = Field(
        1.0, ge=0,
        description="Bound on the summed deposition of the permit-free sources per receptor: mol N/ha/yr "
        "(bound_kind = 'mol_ha') or a share of the receptor's KDW (bound_kind = 'kdw_share', 0.03 = 3 %).",
    )
    bound_kind: Literal["mol_ha", "kdw_share"] = Field(
        "mol_ha", description="'mol_ha': bound_mol_ha in mol N/ha/yr; 'kdw_share': bound_mol_ha x KDW."
    )
    scope: Literal["overloaded", "sensitive"] = Field(
        "overloaded",
        description="Receptors where the bound must hold: 'overloaded' (total deposition above the KDW) or "
        "'sensitive' (every receptor of the area).",
    )
    range_m: float | None = Field(
        25_000.0, gt=0,
        description="Calculation range (m) of the maxima and sums, AERIUS's 25 km by default; 'none' = every pair.",
    )
    relative_pct_kdw: list[float] = Field(
        default_factory=lambda: [1.0, 3.0],
        description="Relative thresholds in % of the receptor's KDW (UK screening 1 %, DE cumulative 3 %).",
    )
    absolute_mol_ha: list[float] = Field(
        default_factory=list,
        description="Further absolute thresholds in mol N/ha/yr (the presets already hold 0.005, 0.05 and 1).",
    )
    presets: list[str] = Field(
        default_factory=threshold_preset_names,
        description="Named precedents from n2kzones/data/threshold_presets.csv (default: all of them).",
    )

    targets: list[PolicyTarget] = Field(
        default_factory=list,
        description="Targets per area for the required extra zone reduction "
        "(policy_reductions.csv): [[policy.targets]] with name, kind ('mean_reduction_mol_ha': "
        "mean deposition on sensitive habitat down by value mol N/ha/yr; 'overloaded_share_pct': "
        "value % of the overloaded hectares back under the KDW; 'max_exceedance_mol_ha': no "
        "hectare above KDW + value) and value. Empty: no reduction table.",
    )
    baseline_scenario: str | None = Field(
        None,
        description="A zone_reduction scenario of [[scenarios]] whose cut the required reduction "
        "comes on top of (the letter's 20 percentage points); None: no baseline.",
    )
    zone_variants: list[str] = Field(
        default_factory=list,
        description="Zone bases compared in policy_zone_variants.csv: 'area_edge' (the letter: "
        "the zone width from the area's edge), 'habitat_edge' (the same width from the edge of "
        "the area's nitrogen-sensitive habitat), 'ta_luft' / 'ta_luft_2002' (a farm is in the zone "
        "within sqrt(F x its NH3 in Mg/yr) of sensitive habitat; F in [parameters.ta_luft]). "
        "Needs [inputs.habitats] and [inputs.parcels]. Empty (default): no comparison; it "
        "overlays the parcels once per basis (about 4.5 min on the national-sized sample), "
        "so it is asked for, e.g. zone_variants = ['area_edge', 'habitat_edge', 'ta_luft'].",
    )

    @field_validator("zone_variants")
    @classmethod
    def _known_variants(cls, v: list[str]) -> list[str]:
        known = ("area_edge", "habitat_edge", "ta_luft", "ta_luft_2002")
        unknown = [n for n in v if n not in known]
        if unknown:
            raise ValueError(f"unknown zone variants {unknown}; choose from {', '.join(known)}")
        return list(dict.fromkeys(v))

    @field_validator("range_m", mode="before")
    @classmethod
    def _none_range(cls, v: Any) -> Any:
        return None if isinstance(v, str) and v.strip().lower() == "none" else v

    @field_validator("relative_pct_kdw", "absolute_mol_ha")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(not (t > 0) for t in v):
            raise ValueError("thresholds must be > 0")
        return sorted(set(v))

    @field_validator("presets")
    @classmethod
    def _known_presets(cls, v: list[str]) -> list[str]:
        known = threshold_preset_names()
        unknown = [n for n in v if n not in known]
        if unknown:
            raise ValueError(f"unknown threshold presets {unknown}; known presets: {', '.join(known)}")
        if len(set(v)) != len(v):
            raise ValueError("threshold presets repeat")
        return v


class SelectionSettings(_Strict):
    """Proposal of zone widths from the deposition the zones carry."""

    n_wide: int = Field(15, ge=0, description="Areas ranked highest get the wide (1000 m) zone.")
    min_contribution_mol_ha: float = Field(
        1.0, ge=0, description="Areas whose zone sources add less than this get no zone."
    )


class Scenario(_Strict):
    """One measure: see docs; percentages are of the farms' current emission."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    kind: Literal["zone_reduction", "polygon_reduction", "buyout"]
    reduction_pct: float = Field(20.0, ge=0, le=100, description="Emission cut in %-points.")
    max_width_m: float | None = Field(None, description="zone_reduction: only zones up to this width.")
    polygon: LayerInput | None = Field(None, description="polygon_reduction: where it applies.")
    farm_ids: list[str] = Field(default_factory=list, description="buyout: farms bought out.")
    nearest_n: int | None = Field(None, ge=1, description="buyout: the n farms with the largest contribution.")


class ReportSettings(_Strict):
    """The report's PDF export and the farm sheets it writes."""

    pdf: bool = Field(
        False,
        description="Also print the report and each area's analysis page to PDF "
        "(report/report.pdf, report/areas/area_<site_code>.pdf) with headless Chromium; "
        "`n2kzones report --pdf` asks for it once. Without Chromium the stage fails saying how "
        "to install it.",
    )
    farm_ids: list[str] = Field(
        default_factory=list,
        description="Farms (farm_id) that get a sheet in farm_sheets/ (HTML and CSV; PDF with "
        "pdf = true); `n2kzones farm-sheet --farm` asks for others once.",
    )
    farm_areas: list[str] = Field(
        default_factory=list,
        description="Site codes whose farms (those in the area's zone or nearest to it) all get a "
        "sheet; `n2kzones farm-sheet --area` asks once.",
    )

    @field_validator("farm_ids", "farm_areas")
    @classmethod
    def _trimmed(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(s for s in (str(x).strip() for x in v) if s))


class ComputeSettings(_Strict):
    """Where the heavy steps run: in this process, or on a Dask cluster.

    Both engines give the same outputs (tables identical, rasters bitwise): the deposition
    grid is computed in tiles of ``tile_cells`` by either engine, and the Dask engine uses
    the same lookup tables and summation order as the local one.
    """

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        return _renamed(data, "engine", "backend", "compute")

    backend: Literal["local", "dask"] = Field(
        "local", description="'local': this process (Numba threads); 'dask': a Dask cluster."
    )
    scheduler: str | None = Field(
        None,
        description="Address of a running Dask scheduler (tcp://host:8786); none = start a "
        "LocalCluster. Workers must reach the input and output folders.",
    )
    n_workers: int = Field(
        2, ge=1, le=512,
        description="Worker processes: of the LocalCluster, and of the maps stage (area maps "
        "built in parallel; 1 = in the calling process; the maps are the same).",
    )
    threads_per_worker: int = Field(1, ge=1, le=64, description="LocalCluster: threads per worker.")
    memory_limit: str = Field(
        "auto", description="LocalCluster: memory limit per worker ('4GiB'; 'auto' = RAM / workers)."
    )
    allowed_failures: int = Field(
        2, ge=0, le=20, description="LocalCluster: times a task may lose its worker before the run fails."
    )
    partition_rows: int = Field(
        100_000, ge=100, description="Dask: parcels per partition when the input is one file."
    )
    chunk_points: int = Field(
        20_000, ge=100, description="Dask: receptors (or sources) per deposition / RKO task."
    )
    tile_cells: int = Field(
        1024, ge=16, le=16_384, description="Deposition grid tile side in cells (both engines)."
    )
    cog: bool = Field(True, description="Write the grids as Cloud-Optimized GeoTIFF (with overviews).")
    pieces_in_geopackage: bool = Field(
        True,
        description="Also write the parcel pieces into n2kzones.gpkg (one process writes them, "
        "~100,000 pieces/s). Off at continental scale: stages/parcel_pieces.parquet holds them.",
    )


class ProjectSection(_Strict):
    name: str = "n2kzones"
    crs: str = Field("EPSG:28992", description="Working CRS; must be projected, in metres.")
    output_dir: Path = Path("data/processed")
    csv_flavour: Literal["plain", "excel_nl"] = Field(
        "plain",
        description="How the CSV tables are spelled. 'plain': comma-separated, decimal point, "
        "UTF-8 without byte-order mark (for pandas, R, QGIS, scripts). 'excel_nl': for Excel with Dutch "
        "settings: ';'-separated, decimal comma, UTF-8 with BOM (without the BOM Excel garbles "
        "names such as 'Âlde Feanen'). Both round values for reading (ha 2 decimals, mol/ha/yr 2 "
        "or 3 significant below 1, % 1, kg NH3 1, ratios 3 significant; CSV_ROUNDING in "
        "n2kzones.io.writers); GeoPackages and GeoParquet keep full precision.",
    )
    language: Literal["nl", "en"] = Field(
        "nl",
        description="Language of what people read: the maps (layer names, legend, popups, "
        "titles), the report, the area pages and the farm sheets, and the headers of the "
        "report's tables and of the CSV tables (see csv_headers). 'nl' Dutch (default), 'en' "
        "English. The texts are in one catalogue (n2kzones/data/messages.toml). Column names of "
        "the GeoPackage and GeoParquet layers do not change with it.",
    )
    csv_headers: Literal["people", "machine"] = Field(
        "people",
        description="Headers of the CSV tables. 'people' (default): a header in the language "
        "above, with its unit ('gemiddelde depositie (mol N/ha/jaar)'); 'machine': the stable "
        "column identifiers ('mean_deposition_mol_ha') that the GeoPackage and GeoParquet "
        "layers always use. The headers are in n2kzones/data/columns.toml; n2kzones.read_table "
        "reads a CSV of either kind back with the identifiers.",
    )
    areas: list[str] = Field(
        default_factory=list,
        description="Natura 2000 areas to run for, by site code (NL2003001) or name (case-insensitive); "
        "empty = every area of inputs.areas. Later stages follow the zones stage's choice.",
    )
    province: list[str] = Field(
        default_factory=list,
        description="Only the Natura 2000 areas in these provinces (one name or a list): by "
        "name, case- and accent-insensitive ('Fryslân', 'fryslan', 'Friesland'), or by code (CBS "
        "statcode 'PV21'), from inputs.provinces. An area is in a province when its polygon and "
        "the province's share more than a boundary (an area in two provinces is in both). With "
        "[project] areas as well: the areas both choose. Empty = no province filter.",
    )

    @field_validator("areas")
    @classmethod
    def _areas_given(cls, v: list[str]) -> list[str]:
        out = [" ".join(str(a).split()) for a in v]
        if any(not a for a in out):
            raise ValueError("an entry of [project] areas is blank; give a site code or an area name")
        return list(dict.fromkeys(out))

    @field_validator("province", mode="before")
    @classmethod
    def _one_or_more_provinces(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("province")
    @classmethod
    def _provinces_given(cls, v: list[str]) -> list[str]:
        out = [" ".join(str(a).split()) for a in v]
        if any(not a for a in out):
            raise ValueError(
                "an entry of [project] province is blank; give a province name or code (PV21)"
            )
        return list(dict.fromkeys(out))

    @property
    def chooses_areas(self) -> bool:
        """True when ``areas`` or ``province`` restricts the run to some areas."""
        return bool(self.areas or self.province)

    @field_validator("crs")
    @classmethod
    def _metric_crs(cls, v: str) -> str:
        try:
            crs = pyproj.CRS.from_user_input(v)
        except pyproj.exceptions.CRSError as exc:
            raise ValueError(f"unknown CRS {v!r}: {exc}") from None
        units = {ax.unit_name for ax in crs.axis_info}
        if not crs.is_projected or units - {"metre"}:
            raise ValueError(
                f"CRS {v!r} is not a projected CRS in metres; buffers and areas need one "
                "(use EPSG:28992 for the Netherlands, EPSG:3035 for the EU)"
            )
        return v


class Config(_Strict):
    """A validated n2kzones project configuration."""

    project: ProjectSection = Field(default_factory=ProjectSection)
    inputs: Inputs
    zones: ZoneRules = Field(default_factory=ZoneRules)
    deposition: DepositionSettings = Field(default_factory=DepositionSettings)
    rko: RkoSettings = Field(default_factory=RkoSettings)
    policy: PolicySettings = Field(
        default_factory=PolicySettings,
        description="Thresholds per area, relative and named thresholds (the policy stage).",
    )
    selection: SelectionSettings = Field(default_factory=SelectionSettings)
    scenarios: list[Scenario] = Field(default_factory=list)
    report: ReportSettings = Field(
        default_factory=ReportSettings,
        description="PDF export of the report and the farm sheets it writes.",
    )
    compute: ComputeSettings = Field(
        default_factory=ComputeSettings,
        description="Where the heavy steps run: this process or a Dask cluster (same outputs).",
    )
    effectiveness_cut_pct: float = Field(
        1.0, gt=0, le=100, description="Uniform marginal cut inside / outside zones, in %."
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of n2kzones/data/parameters.toml."
    )
    source_path: Path | None = Field(None, exclude=True)
    base_dir: Path = Field(Path("."), exclude=True)

    @model_validator(mode="after")
    def _policy_baseline_is_a_zone_scenario(self) -> Config:
        name = self.policy.baseline_scenario
        if name is None:
            return self
        kinds = {sc.name: sc.kind for sc in self.scenarios}
        if kinds.get(name) != "zone_reduction":
            zone = [n for n, k in kinds.items() if k == "zone_reduction"]
            raise ValueError(
                f"[policy] baseline_scenario = {name!r} is not a zone_reduction scenario of "
                f"[[scenarios]] (those are: {', '.join(zone) or 'none'}); name one or remove the key"
            )
        return self

    @model_validator(mode="after")
    def _aerius_grid_fits(self) -> Config:
        d = self.deposition
        if d.receptor_grid != "aerius":
            return self
        if d.hexagon_ha != 1.0:
            raise ValueError(
                f"[deposition] hexagon_ha = {d.hexagon_ha:g} with receptor_grid = 'aerius': AERIUS's "
                "receptor hexagons are 1 ha; remove hexagon_ha or set receptor_grid = 'local'"
            )
        if pyproj.CRS.from_user_input(self.project.crs).to_epsg() != 28992:
            raise ValueError(
                f"[project] crs = {self.project.crs!r} with [deposition] receptor_grid = 'aerius': "
                "AERIUS's receptor grid is defined in RD New; use crs = 'EPSG:28992' or "
                "receptor_grid = 'local'"
            )
        return self

    @field_validator("parameters")
    @classmethod
    def _parameters_valid(cls, v: dict[str, Any]) -> dict[str, Any]:
        load_parameters(v)  # raises a ValidationError naming the bad key
        return v

    # -- derived ----------------------------------------------------------------------------
    @property
    def params(self) -> Parameters:
        """The merged, validated scientific/policy parameters."""
        return load_parameters(self.parameters)

    def resolve(self, path: Path) -> Path:
        """An input/output path as given in the config, made absolute against the project."""
        return path if path.is_absolute() else (self.base_dir / path)

    @property
    def output_dir(self) -> Path:
        return self.resolve(self.project.output_dir)

    @property
    def default_width_m(self) -> float:
        if self.zones.default_width_m is not None:
            return self.zones.default_width_m
        return self.params.zones.default_width_m

    def with_compute(self, **changes: Any) -> Config:
        """A copy with some ``[compute]`` settings changed (validated), e.g. from the CLI."""
        try:
            compute = ComputeSettings.model_validate({**self.compute.model_dump(), **changes})
        except ValidationError as exc:
            raise ConfigError(_format_validation_error(exc, "[compute] (command line)")) from None
        return self.model_copy(update={"compute": compute})

    def with_report(self, **changes: Any) -> Config:
        """A copy with some ``[report]`` settings changed (validated), e.g. from the CLI."""
        try:
            report = ReportSettings.model_validate({**self.report.model_dump(), **changes})
        except ValidationError as exc:
            raise ConfigError(_format_validation_error(exc, "[report] (command line)")) from None
        return self.model_copy(update={"report": report})

    def with_areas(self, areas: list[str]) -> Config:
        """A copy restricted to ``areas`` (site codes or names; replaces ``[project] areas``), e.g. from the CLI."""
        try:
            project = ProjectSection.model_validate({**self.project.model_dump(), "areas": list(areas)})
        except ValidationError as exc:
            raise ConfigError(_format_validation_error(exc, "[project] areas (command line)")) from None
        return self.model_copy(update={"project": project})

    def with_province(self, province: list[str]) -> Config:
        """A copy restricted to the areas in ``province`` (names or codes; replaces
        ``[project] province``), e.g. from the CLI."""
        data = {**self.project.model_dump(), "province": list(province)}
        try:
            project = ProjectSection.model_validate(data)
        except ValidationError as exc:
            source = "[project] province (command line)"
            raise ConfigError(_format_validation_error(exc, source)) from None
        out = self.model_copy(update={"project": project})
        _check_province_input(out, "--province")
        return out

    @property
    def quad_segs(self) -> int:
        return self.zones.quad_segs or self.params.zones.quad_segs


def _check_province_input(cfg: Config, source: str = "[project] province") -> None:
    """Refuse a province filter without a province layer to find the provinces in."""
    if cfg.project.province and cfg.inputs.provinces is None:
        raise ConfigError(
            f"{source} = {cfg.project.province} needs the province polygons: add "
            '[inputs.provinces], e.g. path = "../shared/data/real/cbs-gebiedsindelingen-2026/'
            'provincies_zonder_water.geojson" with preset = "cbs_provinces" (any polygon layer '
            "with a name column works)"
        )


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  - {key}: unknown key (check the spelling; see docs/config.md)")
        else:
            allowed = err.get("ctx", {}).get("expected")
            hint = f" (allowed: {allowed})" if allowed else ""
            lines.append(f"  - {key}: {err['msg']}{hint}; got {err.get('input')!r}")
    return "\n".join(lines)


def _project_root(config_path: Path) -> Path:
    for parent in (config_path.parent, *config_path.parents):
        if (parent / "pyproject.toml").exists() or (parent / "Makefile").exists():
            return parent
    return config_path.parent


def config_from_dict(data: dict[str, Any], *, base_dir: Path = Path("."), source: str = "<dict>") -> Config:
    """Validate a config given as a dict (as read from TOML).

    Raises
    ------
    ConfigError
        Naming each bad key and what is allowed.
    """
    try:
        cfg = Config.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from None
    _check_province_input(cfg, f"{source}: [project] province")
    return cfg


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config file.

    Parameters
    ----------
    path
        The TOML file. Relative paths inside it are resolved against the project root (the
        nearest folder above it holding ``pyproject.toml`` or a ``Makefile``).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; try config/sample.toml")
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    cfg = config_from_dict(data, base_dir=_project_root(path.resolve()), source=str(path))
    return cfg.model_copy(update={"source_path": path.resolve()})
