"""Policy and science parameters: zone widths, KDW values, emission factors, GVE factors.

The defaults live in ``n2kzones/data/parameters.toml`` with their sources. A project config
can override any of them under ``[parameters]``; :func:`load_parameters` merges the two and
validates the result, so a typo in a key is an error, not a silently ignored value.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import tomllib
from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConversionParams(_Strict):
    mol_n_per_kg_nh3: float = Field(gt=0, description="mol N per kg NH3 emitted (58.7).")


class ZoneParams(_Strict):
    default_width_m: float = Field(ge=0, description="Default zone width from the area edge.")
    wide_width_m: float = Field(ge=0, description="Width for areas with high overload from the zone.")
    quad_segs: int = Field(ge=4, le=256, description="Buffer segments per quarter circle.")


class Habitat(_Strict):
    name: str
    kdw_mol_ha: float = Field(gt=0, description="Critical deposition value, mol N/ha/yr.")


class KdwParams(_Strict):
    near_overload_margin_mol_ha: float = Field(ge=0)
    not_sensitive_from_mol_ha: float = Field(gt=0)
    habitats: dict[str, Habitat]

    def kdw_of(self, code: str) -> float:
        """KDW in mol N/ha/yr of a habitat code; raises KeyError naming the known codes.

        AERIUS's search areas (zoekgebieden) carry ``ZG`` before the habitat code
        (``ZGH3130``) and have that habitat type's KDW, unless listed themselves.
        """
        if code not in self.habitats and code.startswith("ZG") and code[2:] in self.habitats:
            code = code[2:]
        try:
            return self.habitats[code].kdw_mol_ha
        except KeyError:
            known = ", ".join(sorted(self.habitats))
            raise KeyError(
                f"habitat type {code!r} has no KDW; add it under [parameters.kdw.habitats] "
                f"(known: {known})"
            ) from None


class LivestockCategory(_Strict):
    emission_kg_nh3_per_animal: float = Field(ge=0)
    gve_per_animal: float = Field(ge=0)
    grazing: bool


class TaLuftParams(_Strict):
    """The TA Luft minimum distance x_min = sqrt(F * Q) (m; Q in Mg NH3/yr), Anhang 1."""

    f_m2_yr_per_mg: float = Field(gt=0, description="F of TA Luft 2021 (in force), m2 yr/Mg.")
    f_2002_m2_yr_per_mg: float = Field(gt=0, description="F of TA Luft 2002 (Abb. 4), m2 yr/Mg.")


class LandBasedParams(_Strict):
    max_gve_per_ha: float = Field(gt=0)
    min_grassland_share: float = Field(ge=0, le=1)


class SourceClassParams(_Strict):
    """Source characteristics for the class-aware deposition model."""

    default_height_m: float = Field(gt=0, le=300, description="Emission height where none is given, m.")


class ReceptorClassParams(_Strict):
    """Land use and roughness of receptors for the class-aware deposition model."""

    default_landuse: str
    grid_landuse: str = Field("grass", description="Land use of grid cells off habitat without a land-use raster.")
    nh3_background_ug_m3: float = Field(gt=0, description="Uniform NH3 background, ug/m3.")
    landuse_by_prefix: dict[str, str]
    z0_m: dict[str, float]

    def landuse_of(self, habitat_code: str) -> str:
        """Land-use class of a habitat code (longest matching prefix; else the default)."""
        best = ""
        for prefix in self.landuse_by_prefix:
            if str(habitat_code).startswith(prefix) and len(prefix) > len(best):
                best = prefix
        return self.landuse_by_prefix[best] if best else self.default_landuse
class CrsParams(_Strict):
    max_scale_error: float = Field(gt=0, lt=1, description="Largest |scale factor - 1| of the working CRS over the data.")
    area_of_use_margin_deg: float = Field(ge=0, le=30, description="Margin around a CRS's area of use, degrees.")


class RasterRole(_Strict):
    """Plausible values of one kind of raster input (what it is, its unit, its range)."""

    description: str
    unit: str
    plausible_min: float
    plausible_max: float
    nodata_sentinels: list[float] = Field(default_factory=list)
    zero_is_nodata: bool = False
    whole_numbers: bool = Field(False, description="Values are class codes: a fraction is refused.")
    fill_nearest_m: float = Field(
        0.0,
        ge=0,
        description="Points on no data (or outside the grid) within this distance (m) of a cell "
        "with data take that cell's value, counted (a coarse grid's edge along a coast or border).",
    )

    @field_validator("plausible_max")
    @classmethod
    def _ordered(cls, v: float, info: Any) -> float:
        lo = info.data.get("plausible_min")
        if lo is not None and v <= lo:
            raise ValueError("plausible_max must be above plausible_min")
        return v


class Parameters(_Strict):
    """All policy/science numbers used by the pipeline (see ``data/parameters.toml``)."""

    conversion: ConversionParams
    zones: ZoneParams
    kdw: KdwParams
    livestock: dict[str, LivestockCategory]
    land_based: LandBasedParams
    ta_luft: TaLuftParams
    source_classes: SourceClassParams
    receptor_classes: ReceptorClassParams
    crs: CrsParams
    raster_roles: dict[str, RasterRole]

    @field_validator("livestock")
    @classmethod
    def _nonempty(cls, v: dict[str, LivestockCategory]) -> dict[str, LivestockCategory]:
        if not v:
            raise ValueError("at least one livestock category is needed")
        return v

    @property
    def animal_categories(self) -> list[str]:
        """Livestock category names, in table order (the animal-count column names)."""
        return list(self.livestock)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def default_parameter_dict() -> dict[str, Any]:
    """The packaged defaults as a plain dict (a fresh copy)."""
    text = resources.files("n2kzones").joinpath("data/parameters.toml").read_text("utf-8")
    return tomllib.loads(text)


def load_parameters(overrides: dict[str, Any] | None = None) -> Parameters:
    """Packaged defaults merged with ``overrides`` (same nesting as the TOML file).

    Parameters
    ----------
    overrides
        Nested dict such as ``{"zones": {"default_width_m": 250}}``. Unknown keys raise.

    Returns
    -------
    Parameters
        Validated, immutable parameters.
    """
    defaults = default_parameter_dict()
    defaults["kdw"]["habitats"] = {**wur_kdw_habitats(), **defaults["kdw"].get("habitats", {})}
    merged = _deep_merge(defaults, overrides or {})
    return Parameters.model_validate(merged)


@functools.lru_cache(maxsize=1)
def _wur_kdw_habitats() -> tuple[tuple[str, str, float], ...]:
    from n2kzones.kdw import load_kdw_table

    table = load_kdw_table().dropna(subset=["kdw_mol_ha"])
    rows = [(c, n, float(v)) for c, n, v in zip(table["code"], table["name"], table["kdw_mol_ha"], strict=True)]
    known = {c for c, _, _ in rows}
    # A type listed only by its variants (H3150 as H3150baz, H3150veg, ...) takes the lowest
    # KDW of its variants, its most sensitive form, as AERIUS takes a hexagon's KDW from its
    # most sensitive habitat.
    variants: dict[str, list[float]] = {}
    for code, _, value in rows:
        if (m := re.fullmatch(r"(H\d{4}[A-Z]?)[a-z]+", code)) and m.group(1) not in known:
            variants.setdefault(m.group(1), []).append(value)
    rows += [(c, f"{c} (lowest KDW of its variants)", min(v)) for c, v in sorted(variants.items())]
    return tuple(rows)


def wur_kdw_habitats() -> dict[str, dict[str, Any]]:
    """The KDW per habitat code of WUR report 3272 (:func:`n2kzones.kdw.load_kdw_table`) as
    ``[kdw.habitats]`` entries: every type, subtype, variant and leefgebied with a value, plus
    each type listed only by its variants (KDW = the lowest of its variants). The packaged
    ``[kdw.habitats]`` and a config's ``[parameters.kdw.habitats]`` override or add entries.
    """
    return {c: {"name": n, "kdw_mol_ha": v} for c, n, v in _wur_kdw_habitats()}


# -- threshold presets -------------------------------------------------------------------------
#: The packaged table of named threshold precedents (see its ``.provenance.json``).
THRESHOLD_PRESETS_CSV = "data/threshold_presets.csv"
#: Columns every row of the presets table has.
THRESHOLD_PRESET_COLUMNS = (
    "name", "jurisdiction", "kind", "applies_to", "value", "unit", "value_mol_ha", "value_pct_kdw",
    "conversion", "source", "article", "year", "url", "quote", "verified", "note",
)


@functools.lru_cache(maxsize=1)
def _threshold_presets_text() -> str:
    return resources.files("n2kzones").joinpath(THRESHOLD_PRESETS_CSV).read_text("utf-8")


def load_threshold_presets() -> Any:
    """The named threshold precedents (``data/threshold_presets.csv``) as a DataFrame.

    One row per preset: ``kind`` ``absolute_mol_ha`` (``value_mol_ha`` in mol N/ha/yr,
    converted from kg N/ha/yr at 1 kg N = 1000 / 14.007 mol N where the source gives kg) or
    ``pct_kdw`` (``value_pct_kdw`` in per cent of the receptor's KDW), with the source, the
    article, the url, the quote that states the number and whether it was ``verified``
    against a primary text (``data/threshold_presets.provenance.json``).

    Raises
    ------
    ValueError
        A row without a source or url, an unknown kind or a non-positive value (a broken
        package file).
    """
    import io

    import pandas as pd

    table = pd.read_csv(io.StringIO(_threshold_presets_text()), dtype={"year": "Int64"}, keep_default_na=False, na_values={"value_mol_ha": [""], "value_pct_kdw": [""]})
    missing = [c for c in THRESHOLD_PRESET_COLUMNS if c not in table]
    if missing:
        raise ValueError(f"{THRESHOLD_PRESETS_CSV}: missing columns {missing}")
    for row in table.itertuples():
        value = row.value_mol_ha if row.kind == "absolute_mol_ha" else row.value_pct_kdw
        if row.kind not in ("absolute_mol_ha", "pct_kdw") or not value > 0:
            raise ValueError(f"{THRESHOLD_PRESETS_CSV}: preset {row.name!r} has kind {row.kind!r} and value {value!r}")
        if not str(row.source).strip() or not str(row.url).strip():
            raise ValueError(f"{THRESHOLD_PRESETS_CSV}: preset {row.name!r} has no source")
    if table["name"].duplicated().any():
        raise ValueError(f"{THRESHOLD_PRESETS_CSV}: preset names repeat")
    return table


def threshold_preset_names() -> list[str]:
    """Names of the packaged threshold presets, in table order."""
    return [str(n) for n in load_threshold_presets()["name"]]
