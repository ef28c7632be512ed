"""The catalogue of user-facing text (issue 16, item 3): complete in Dutch and English, every
key used and every used key present, and the outputs Dutch by default and English with
``[project] language = "en"``."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from n2kzones.render.i18n import LANGUAGES, catalogue, tr

SRC = Path(__file__).resolve().parents[1] / "src" / "n2kzones"
#: Namespaces of the catalogue's keys.
NAMESPACES = ("area", "farm", "map", "report")
#: A quoted string that looks like a catalogue key (file names such as "report.pdf" excepted).
KEY_LITERAL = re.compile(r"""["']((?:""" + "|".join(NAMESPACES) + r""")\.[a-z][a-z0-9_]*)["']""")
FILE_SUFFIXES = {"html", "pdf", "csv", "png", "gpkg", "tif", "toml", "json", "md", "qml", "parquet"}


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None and f != ""}


def _sources() -> dict[Path, str]:
    return {p: p.read_text("utf-8") for p in sorted(SRC.rglob("*.py"))}


def test_every_key_has_a_text_in_both_languages_with_the_same_fields() -> None:
    cat = catalogue()
    assert len(cat) > 200
    for key, texts in cat.items():
        assert key.split(".", 1)[0] in NAMESPACES, key
        assert set(texts) == set(LANGUAGES), key
        for lang in LANGUAGES:
            assert texts[lang].strip(), f"{key}: empty {lang} text"
        assert _fields(texts["en"]) == _fields(texts["nl"]), key


def test_every_key_is_used_in_the_package() -> None:
    source = "\n".join(_sources().values())
    unused = [k for k in catalogue() if f'"{k}"' not in source and f"'{k}'" not in source]
    assert not unused, f"keys not used anywhere in src/n2kzones: {unused}"


def test_every_key_used_is_in_the_catalogue() -> None:
    cat = catalogue()
    missing = {}
    calls = 0
    for path, text in _sources().items():
        for key in KEY_LITERAL.findall(text):
            if key.rsplit(".", 1)[1] in FILE_SUFFIXES:
                continue
            if key not in cat:
                missing.setdefault(path.name, []).append(key)
        # every tr() call with a literal key names one the catalogue has
        for key in re.findall(r"""\btr\(\s*["']([^"']+)["']""", text):
            calls += 1
            if key not in cat:
                missing.setdefault(path.name, []).append(key)
    assert calls > 100
    assert not missing, f"keys used but not in messages.toml: {missing}"


def test_render_modules_have_no_strings_tables_left() -> None:
    for name in ("area_page", "farm_sheet", "maps", "report"):
        text = (SRC / "render" / f"{name}.py").read_text("utf-8")
        assert not re.search(r"^(STRINGS|INDEX_STRINGS)\b", text, re.M), name


def test_linked_outputs_have_a_description_in_both_languages() -> None:
    """The report's link list describes every output it links in the page's language; the
    English text is the output catalogue's description (no drift between the two)."""
    from n2kzones.render.report import LINKED, OUTPUT_TEXT_KEYS
    from n2kzones.stages.catalogue import OUTPUTS

    assert set(LINKED) | {"farm_sheets"} == set(OUTPUT_TEXT_KEYS)
    for out, key in OUTPUT_TEXT_KEYS.items():
        assert tr(key, "en") == OUTPUTS[out].description, out


def test_tr_fills_fields_and_falls_back() -> None:
    nl = tr("area.title", "nl", name="Âlde Feanen", code="NL1")
    assert nl == "Gebiedsanalyse: Âlde Feanen (NL1)"
    assert tr("area.title", "en", name="X", code="Y") == "Area analysis: X (Y)"
    assert tr("map.legend") == tr("map.legend", "nl") == "Legenda"  # Dutch by default
    assert tr("map.legend", "fr") == "Legend"  # unknown language: English
    with pytest.raises(KeyError):
        tr("map.no_such_key", "nl")


def test_language_setting_defaults_to_dutch_and_reruns_what_people_read() -> None:
    """The language reruns the maps and the report, and every stage that writes a CSV (its
    headers for people are in the language)."""
    from n2kzones.config import ProjectSection
    from n2kzones.stages.catalogue import CONFIG_KEYS

    assert ProjectSection().language == "nl"
    assert ProjectSection(language="en").language == "en"
    with pytest.raises(ValueError):
        ProjectSection(language="de")
    for stage in ("overlay", "deposition", "rko", "select", "scenario", "policy", "maps", "report"):
        assert "project.language" in CONFIG_KEYS[stage], stage
    assert "project.language" not in CONFIG_KEYS["zones"]  # writes no table for people


# -- outputs on the sample -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def outputs(sample_config, tmp_path_factory) -> dict[str, dict[str, str]]:
    """The overview map, one area map, the report index and one area page on the sample: with
    the default config, then with ``language = "en"`` (every stage but zones reruns)."""
    from n2kzones.stages.catalogue import area_page_name
    from n2kzones.stages.run import run_all, run_stale

    out = tmp_path_factory.mktemp("i18n-out")
    cfg = sample_config.model_copy(
        update={"project": sample_config.project.model_copy(update={"output_dir": out})}
    )
    assert cfg.project.language == "nl"
    run_all(cfg, pdf=False)
    manifest_maps = sorted((out / "maps").glob("area_*.html"))
    code = manifest_maps[0].stem.removeprefix("area_")

    def read() -> dict[str, str]:
        return {
            "overview": (out / "maps" / "index.html").read_text("utf-8"),
            "area_map": manifest_maps[0].read_text("utf-8"),
            "report": (out / "report" / "index.html").read_text("utf-8"),
            "page": (out / "report" / "areas" / area_page_name(code)).read_text("utf-8"),
        }

    nl = read()
    en_cfg = cfg.model_copy(
        update={"project": cfg.project.model_copy(update={"language": "en"})}
    )
    ran = run_stale(en_cfg, ["report"], pdf=False)
    assert ran == {s: s != "zones" for s in ran}  # every stage with outputs for people reran
    return {"nl": nl, "en": read()}


#: Texts each output shows, by catalogue key.
SHOWN = {
    "overview": ("map.legend", "map.zones_layer", "map.areas_layer", "map.offline"),
    "area_map": (
        "map.area_layer",
        "map.habitats_layer",
        "map.parcels_layer",
        "map.context_layer",
        "map.farms_layer",
        "map.offline",
    ),
    "report": ("report.title", "report.maps", "report.areas", "report.tables", "report.overview"),
    "page": ("area.zone", "area.land", "area.habitats", "area.rko", "area.scenarios"),
}


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["nl", "en"])
def test_outputs_in_the_configured_language(outputs, lang: str) -> None:
    from html import escape

    def shown(text: str, html: str) -> bool:
        return escape(text) in html or escape(text, quote=False) in html

    other = "en" if lang == "nl" else "nl"
    for name, html in outputs[lang].items():
        assert f'<html lang="{lang}">' in html, name
        for key in SHOWN[name]:
            assert shown(tr(key, lang), html), (name, key)
    # a few headings that differ between the languages are only in their own language
    for name, key in (
        ("report", "report.tables"),
        ("page", "area.zone"),
        ("overview", "map.zones_layer"),
    ):
        assert not shown(tr(key, other), outputs[lang][name]), (name, key)
    exceedance = tr("map.raster_layer", lang, title=tr("map.exceedance", lang))
    assert shown(exceedance, outputs[lang]["area_map"])
