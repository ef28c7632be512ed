"""Column-mapping presets for the sources users have.

A preset maps n2kzones' column names to a source's names. A list means "the first
non-blank of these columns" (PDOK writes a blank Habitats-directive code for Birds-only
sites). ``defaults`` gives values for columns a source does not have; using one is logged.
``mosaic`` (habitats only) names (type column, coverage percentage column) pairs of a habitat
map whose polygons hold several habitat types: the reader keeps the most sensitive type of
each polygon (see :func:`n2kzones.io.readers.most_sensitive_of_mosaic`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Preset:
    columns: dict[str, str | list[str]]
    defaults: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    #: Columns joined onto each feature by the publisher (one row per feature and joined
    #: record): rows sharing an id that differ only here are one feature, kept once
    #: (counted; see :func:`n2kzones.io.validate.deduplicate_ids`).
    joined_columns: tuple[str, ...] = ()
    mosaic: tuple[tuple[str, str], ...] = ()


#: The national habitat-type map (NDVH / BIJ12 habitat template, layer ``Habitat``): up to six
#: habitat types per polygon, each with its coverage in % of the polygon.
NDVH_MOSAIC: tuple[tuple[str, str], ...] = tuple(
    (f"habitatType{i}", f"bedekkingsPercentage{i}") for i in range(1, 7)
)


# Canonical columns per layer kind: (required, optional).
SCHEMAS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "areas": (("site_code",), ("name", "nitrogen_sensitive", "area_number")),
    "habitats": (("habitat_code",), ("site_code", "kdw_mol_ha")),
    "parcels": (("category",), ("parcel_id", "gewascode", "gewas", "jaar", "farm_id")),
    # farm_type, address and municipality are carried through to farm_summary.csv and the
    # farms layer when the source has them (the IGO file: bedrijfstype, adres, bevoegdgezag)
    "farms": (
        ("farm_id",),
        ("emission_kg_nh3", "source_height_m", "farm_type", "address", "municipality"),
    ),
    "provinces": (("name",), ("code",)),
}

PRESETS: dict[str, dict[str, Preset]] = {
    "areas": {
        "n2kzones": Preset(columns={}),
        # PDOK WFS service.pdok.nl/rvo/natura2000 (layer natura2000). It carries no
        # nitrogen-sensitivity flag: take it from the RCE list (natura2000_json) or map one.
        "pdok_natura2000": Preset(
            columns={"site_code": ["sitecodeH", "sitecodeV"], "name": "naamN2K", "area_number": "nr"},
            defaults={"nitrogen_sensitive": True},
            note="PDOK has no nitrogen-sensitive flag; every area is treated as sensitive",
        ),
        # EEA Natura 2000 end-of-year release (Natura2000_end<year>_epsg3035.gpkg/shp).
        "eea_natura2000": Preset(
            columns={"site_code": "SITECODE", "name": "SITENAME"},
            defaults={"nitrogen_sensitive": True},
            note="EEA has no nitrogen-sensitive flag; every site is treated as sensitive",
        ),
        # The per-area JSON folder layout of ../shared/data/real/natura2000-nl-pdok-rce.
        "natura2000_json": Preset(columns={}),
    },
    "habitats": {
        "n2kzones": Preset(columns={}),
        # The habitat-type map schema of the NDVH habitat template (layer Habitat of
        # NDVH_Habitat_template_T0_v2023.1.3_Prod.zip, a FileGDB): identificatie, bron,
        # habitatType1..6, kwaliteit1..6, bedekkingsOppervlakte1..6 (m2),
        # bedekkingsPercentage1..6 (%). It has no area code (that is gebiedNummer of the
        # HabitatPackage layer): map site_code by hand, or let it follow from the areas.
        "ndvh_habitat": Preset(
            columns={},
            mosaic=NDVH_MOSAIC,
            note="a polygon with several habitat types counts as its most sensitive type",
        ),
        # AERIUS habitat areas (one polygon per habitat type and area, with the share of the
        # polygon the type covers). Field names of the AERIUS database (nature.habitat_areas,
        # nature.relevant_habitat_areas: assessment_area_id, habitat_area_id, habitat_type_id,
        # coverage (fraction), geometry; the code in habitat_types.name; the KDW in
        # critical_deposition / critical_level), as in AERIUS's database modules
        # (github.com/paulromeijn/database-modules, source/modules/src/main/sql/...), and
        # habitat_type_name as kdw.py notes for AERIUS's open data. The published WFS layer
        # names are not established here: check the columns of a download against these.
        "aerius_habitat_areas": Preset(
            columns={
                "habitat_code": ["habitat_type_name", "name"],
                "kdw_mol_ha": ["critical_deposition", "critical_level"],
            },
            note="coverage (fraction of the polygon) is kept, not used: whole polygons count",
        ),
    },
    "parcels": {
        "n2kzones": Preset(columns={}),
        # PDOK BRP gewaspercelen GeoPackage (layer brp_gewas): category, gewas, gewascode,
        # jaar, status. It has no stable id: the row number (GeoPackage fid order) is used.
        "brp_pdok": Preset(columns={}),
    },
    "farms": {
        "n2kzones": Preset(columns={}),
        # IGO veehouderijen layer (omgevingsdiensten), as in
        # ../shared/data/real/veehouderijen-igo-n2000-zones/data.gpkg.
        "igo_veehouderijen": Preset(
            # bevoegdgezag is the competent authority: the municipality, or the province for
            # the farms it licenses itself (IPPC installations); od is the omgevingsdienst.
            columns={
                "farm_id": "vthobject_id",
                "emission_kg_nh3": "nh3_emissie",
                "farm_type": "bedrijfstype",
                "address": "adres",
                "municipality": "bevoegdgezag",
            },
            # The IGO file joins each farm to the Natura 2000 area(s) and habitat type it was
            # selected for: a farm near two areas is two rows (farm 6063NL3A: Meinweg, Roerdal).
            joined_columns=(
                "natura2000_area_id",
                "natura2000_area_name",
                "habitat_type_id",
                "habitat_type_name",
                "habitat_type_description",
                "critical_deposition",
                "coverage",
            ),
        ),
        # AERIUS IMAER calculation input (GDAL layer EmissionSource): value = NH3 kg/yr.
        "imaer_gml": Preset(columns={"farm_id": "localId", "emission_kg_nh3": "value"}),
    },
    "provinces": {
        "n2kzones": Preset(columns={}),
        # CBS Gebiedsindelingen (via PDOK), e.g. provincie_gegeneraliseerd in
        # ../shared/data/real/cbs-gebiedsindelingen-2026/provincies_zonder_water.geojson:
        # statcode PV20..PV31, statnaam (Groningen, Fryslân, ...), EPSG:28992.
        "cbs_provinces": Preset(columns={"name": "statnaam", "code": "statcode"}),
    },
}


def get_preset(kind: str, name: str) -> Preset:
    """The preset ``name`` for layer ``kind``; KeyError names the allowed ones."""
    try:
        return PRESETS[kind][name]
    except KeyError:
        allowed = ", ".join(PRESETS.get(kind, {}))
        raise KeyError(f"no preset {name!r} for {kind}; allowed: {allowed}") from None
