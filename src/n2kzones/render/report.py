"""A static HTML report of a run: ``<output_dir>/report/index.html``.

Links to the maps and tables, and matplotlib figures (saved as PNG beside the report and
shown in it): the RKO sweep, overload per area, the zone proposal and the scenario effects.
Every value taken from the data is HTML-escaped. Text (headings, captions, table headers,
figure labels) is in the catalogue (:mod:`n2kzones.render.i18n`, keys ``report.*``), in the
language ``lang`` (``[project] language``, Dutch by default); the tables show the CSV columns
under headers for people, the CSVs keep their stable English column names.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from html import escape
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from n2kzones.habitats import HABITAT_SOURCE_COLUMN, standin_areas  # noqa: E402
from n2kzones.io.headers import header_for  # noqa: E402
from n2kzones.io.writers import atomic_path, safe_file_stem  # noqa: E402
from n2kzones.render.i18n import (  # noqa: E402
    DEFAULT_LANGUAGE,
    REDUCTION_STATUS_KEYS,
    ZONE_VARIANT_KEYS,
    fmt_number,
    localise,
    tr,
)
from n2kzones.rko import NO_RANGE  # noqa: E402
from n2kzones.scenarios import NATIONAL_ROW  # noqa: E402
from n2kzones.selection import UNKNOWN_NO_HABITAT  # noqa: E402
from n2kzones.threads import exit_with_parent  # noqa: E402
from n2kzones.zones import ZONE_WIDTH_COLUMN  # noqa: E402

log = logging.getLogger(__name__)

#: Outputs the report links to, by catalogue key (names and descriptions come from there).
LINKED = (
    "area_summary", "farm_summary", "area_deposition", "rko_sweep", "rko_by_area", "zone_proposal",
    "scenarios", "scenario_farms", "zone_effectiveness", "overlay_gpkg", "deposition_gpkg",
    "rko_sources", "policy_area_thresholds", "policy_thresholds", "policy_reductions",
    "policy_zone_variants", "deposition_farms_tif", "deposition_total_tif", "exceedance_tif",
)

#: Output catalogue key -> the key of its description for people in the report's link list.
OUTPUT_TEXT_KEYS = {
    "area_summary": "report.out_area_summary",
    "farm_summary": "report.out_farm_summary",
    "area_deposition": "report.out_area_deposition",
    "rko_sweep": "report.out_rko_sweep",
    "rko_by_area": "report.out_rko_by_area",
    "zone_proposal": "report.out_zone_proposal",
    "scenarios": "report.out_scenarios",
    "scenario_farms": "report.out_scenario_farms",
    "zone_effectiveness": "report.out_zone_effectiveness",
    "overlay_gpkg": "report.out_overlay_gpkg",
    "deposition_gpkg": "report.out_deposition_gpkg",
    "rko_sources": "report.out_rko_sources",
    "policy_area_thresholds": "report.out_policy_area_thresholds",
    "policy_thresholds": "report.out_policy_thresholds",
    "policy_reductions": "report.out_policy_reductions",
    "policy_zone_variants": "report.out_policy_zone_variants",
    "deposition_farms_tif": "report.out_deposition_farms_tif",
    "deposition_total_tif": "report.out_deposition_total_tif",
    "exceedance_tif": "report.out_exceedance_tif",
    "farm_sheets": "report.out_farm_sheets",
}


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    # tight_layout leaves a placeholder layout engine, for which savefig would draw the whole
    # figure once more before drawing it (a dry run that changes nothing: the layout is done)
    fig.set_layout_engine(None)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


#: A figure function: ``(table, PNG path, language) -> PNG path``.
FigureFn = Callable[[pd.DataFrame, Path, str], Path]
#: One figure to draw: its function, its table, the PNG path and the language.
FigureJob = tuple[FigureFn, pd.DataFrame, Path, str]


def _draw(job: FigureJob) -> Path:
    fig, table, path, lang = job
    return fig(table, path, lang)


def available_cpus() -> int:
    """The number of CPU cores this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Figures:
    """Figures being drawn (:func:`start_figures`): :meth:`wait` for their PNGs."""

    def __init__(self, jobs: Sequence[FigureJob], workers: int = 1) -> None:
        self.jobs = list(jobs)
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[int, Future[Path]] = {}
        self._paths: list[Path] | None = None
        n = min(int(workers), len(self.jobs))
        if n > 1 and "fork" in multiprocessing.get_all_start_methods():
            # fork: the workers have matplotlib and the tables already (no import, no copy)
            self._pool = ProcessPoolExecutor(
                n, mp_context=multiprocessing.get_context("fork"), initializer=exit_with_parent
            )
            order = sorted(range(len(self.jobs)), key=lambda i: -len(self.jobs[i][1]))
            self._futures = {i: self._pool.submit(_draw, self.jobs[i]) for i in order}
        else:
            self._paths = [_draw(job) for job in self.jobs]

    def wait(self) -> list[Path]:
        """The PNG paths, in the order of the jobs, once all are drawn (a figure's error is
        raised here; if a worker process died, this process draws what is missing)."""
        if self._paths is None:
            paths: list[Path] = []
            try:
                for i, job in enumerate(self.jobs):
                    try:
                        paths.append(self._futures[i].result())
                    except BrokenProcessPool:
                        log.warning("a figure worker process died; drawing %s here", job[2].name)
                        paths.append(_draw(job))
            finally:
                self.close()
            self._paths = paths
        return list(self._paths)

    def close(self) -> None:
        """Stop the worker processes (figures not started yet are not drawn)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Figures:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_figures(jobs: Sequence[FigureJob], *, workers: int = 1) -> Figures:
    """Start drawing each figure of ``jobs`` to its PNG; :meth:`Figures.wait` for them.

    With ``workers`` > 1 (and more than one job, on a platform that forks) the figures are
    drawn in that many worker processes forked from this one, which returns at once and can
    do other work meanwhile; else they are drawn now, in this process. Each figure is drawn
    whole by one process with the same function, so the files do not depend on the number
    of workers; the largest tables go first, as they take longest.

    Parameters
    ----------
    jobs
        ``(function, table, PNG path, language)`` per figure (:func:`figure_jobs`).
    workers
        Processes to draw in; 1: this process.
    """
    return Figures(jobs, workers)


def draw_figures(jobs: Sequence[FigureJob], *, workers: int = 1) -> list[Path]:
    """Draw each figure of ``jobs`` (:func:`start_figures`) and wait for them; returns the
    PNG paths in the order of ``jobs``."""
    return start_figures(jobs, workers=workers).wait()


def range_text(label: object, lang: str = DEFAULT_LANGUAGE) -> str:
    """Text of a calculation range label of the rko stage (``none``, ``25000``)."""
    if str(label) == NO_RANGE:
        return tr("report.range_none", lang)
    return tr("report.range_km", lang, km=localise(f"{float(label) / 1000:g}", lang))


def fig_rko(sweep: pd.DataFrame, path: Path, lang: str = DEFAULT_LANGUAGE) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for rng, g in sweep.groupby("range", sort=False):
        g = g.sort_values("threshold_mol_ha")
        label = range_text(rng, lang)
        axes[0].plot(g["threshold_mol_ha"], g["n_sources_below"], marker="o", label=label)
        axes[1].plot(g["threshold_mol_ha"], g["mean_sum_mol_ha"], marker="o", label=label)
        axes[2].plot(
            g["threshold_mol_ha"],
            g["ha_tipped_overload"],
            marker="o",
            label=tr("report.f_overload", lang, range=label),
        )
        if "ha_tipped_near_overload" in g:
            axes[2].plot(
                g["threshold_mol_ha"],
                g["ha_tipped_near_overload"],
                marker="x",
                linestyle="--",
                label=tr("report.f_near_overload", lang, range=label),
            )
    titles = [
        tr(k, lang) for k in ("report.f_rko_sources", "report.f_rko_sum", "report.f_rko_tipped")
    ]
    ylabels = (tr("report.f_rko_y_sources", lang), tr("report.f_unit_dep", lang), "ha")
    for ax, t, y in zip(axes, titles, ylabels, strict=True):
        ax.set_xscale("log")
        ax.set_xlabel(tr("report.f_rko_x", lang))
        ax.set_ylabel(y)
        ax.set_title(t, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)


def _labels(values: pd.Series | list, max_len: int = 40) -> list[str]:
    """Axis labels from ids: ``$`` escaped (matplotlib would parse mathtext), long ones cut,
    and kept distinct (a bar chart merges equal labels)."""
    out = []
    for v in values:
        t = str(v)
        if len(t) > max_len:
            t = t[: max_len - 10] + "…" + safe_file_stem(str(v))[-9:]
        out.append(t.replace("$", r"\$"))
    return out


def fig_overload(dep: pd.DataFrame, path: Path, lang: str = DEFAULT_LANGUAGE) -> Path:
    d = dep.sort_values("pct_overloaded")
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(d) + 1.5))
    ax.barh(
        _labels(d["site_code"]), d["pct_overloaded"], color="#d7301f",
        label=tr("report.f_over_bar", lang),
    )
    if "pct_near_overload" in d:
        ax.barh(
            _labels(d["site_code"]),
            d["pct_near_overload"] - d["pct_overloaded"],
            left=d["pct_overloaded"],
            color="#fdae61",
            label=tr("report.f_near_bar", lang),
        )
    ax.set_xlabel(tr("report.f_pct_habitat", lang))
    ax.set_xlim(0, 100)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(tr("report.f_overload_title", lang), fontsize=10)
    return _save(fig, path)


def fig_proposal(prop: pd.DataFrame, path: Path, lang: str = DEFAULT_LANGUAGE) -> Path:
    d = prop.sort_values("dep_within_1000m_mol_ha")
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(d) + 1.5))
    width = d[ZONE_WIDTH_COLUMN] if ZONE_WIDTH_COLUMN in d else d["final_width_m"]
    labels = [
        f"{c} ({w:.0f} m)" if pd.notna(w) else str(c)
        for c, w in zip(_labels(d["site_code"]), width, strict=True)
    ]
    ax.barh(
        labels,
        d["dep_within_500m_mol_ha"],
        label=tr("report.f_within_500", lang),
    )
    ax.barh(
        labels,
        d["dep_500_1000m_mol_ha"],
        left=d["dep_within_500m_mol_ha"],
        color="#9e9ac8",
        label=tr("report.f_500_1000", lang),
    )
    ax.set_xlabel(tr("report.f_proposal_x", lang))
    ax.set_title(tr("report.f_proposal_title", lang), fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def fig_scenarios(sc: pd.DataFrame, path: Path, lang: str = DEFAULT_LANGUAGE) -> Path:
    piv = sc.pivot_table(
        index="site_code", columns="scenario", values="overloaded_ha_change", aggfunc="sum"
    ).fillna(0.0)
    piv.index = _labels(piv.index)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    piv.plot.bar(ax=ax, width=0.8)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel(tr("report.f_scenario_y", lang))
    ax.set_xlabel("")
    ax.set_title(tr("report.f_scenario_title", lang), fontsize=10)
    ax.legend(fontsize=7)
    return _save(fig, path)


def scenario_totals(sc: pd.DataFrame) -> pd.DataFrame:
    """Each scenario's national totals: its ``ALL`` row of ``scenarios.csv``.

    Parameters
    ----------
    sc
        The scenario table: rows per area and one :data:`~n2kzones.scenarios.NATIONAL_ROW`
        row per scenario.

    Returns
    -------
    DataFrame
        ``scenario``, ``overloaded_ha_change`` (ha) and ``nh3_reduced_kg`` (kg NH3/yr) from
        the national rows, never added to the per-area rows (which the national row already
        covers). A scenario without a national row sums its area rows instead.
    """
    cols = ["overloaded_ha_change", "nh3_reduced_kg"]
    nat = sc["site_code"].astype(str) == NATIONAL_ROW
    out = sc.loc[nat, ["scenario", *cols]]
    rest = sc.loc[~nat & ~sc["scenario"].isin(out["scenario"])]
    if len(rest):
        out = pd.concat([out, rest.groupby("scenario", sort=False)[cols].sum().reset_index()])
    return out.reset_index(drop=True)


def _link(href: str, text: str) -> str:
    return f'<a href="{escape(href, quote=True)}">{escape(text)}</a>'


def _table_html(
    df: pd.DataFrame, cols: list[str], lang: str = DEFAULT_LANGUAGE, css_id: str | None = None
) -> str:
    """An escaped HTML table of ``cols`` of ``df`` under the CSVs' headers for people
    (:func:`~n2kzones.io.headers.header_for`); each header's ``data-column`` names the column."""
    cols = [c for c in cols if c in df]
    html = df[cols].to_html(
        index=False,
        escape=True,
        float_format=lambda v: fmt_number(v, 1, lang),
        na_rep="",
        border=0,
        classes="t",
        table_id=css_id,
    )
    for c in cols:
        head = escape(header_for(c, lang))
        html = html.replace(
            f"<th>{escape(c)}</th>", f'<th data-column="{escape(c, quote=True)}">{head}</th>', 1
        )
    return html


def fig_policy(area_thr: pd.DataFrame, path: Path, lang: str = DEFAULT_LANGUAGE) -> Path:
    """Distribution of the area-specific thresholds (mol N/ha/yr; log scale when they span more
    than a decade); areas where every source fits are counted in the legend."""
    t = pd.to_numeric(area_thr["area_threshold_mol_ha"], errors="coerce")
    finite = t[np.isfinite(t) & (t > 0)]
    n_fit = int((~np.isfinite(t)).sum())
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if len(finite):
        lo, hi = np.log10(finite.min()), np.log10(finite.max())
        n_bins = max(5, min(30, len(finite) // 2 + 2))
        wide = hi - lo > 1  # more than a decade: log scale
        bins = np.logspace(lo - 0.1, hi + 0.1, n_bins) if wide else n_bins
        ax.hist(finite, bins=bins, color="#4477aa", label=tr("report.f_policy_areas", lang, n=len(finite)))
        if wide:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
    ax.plot([], [], " ", label=tr("report.f_policy_all_fit", lang, n=n_fit))
    ax.set_xlabel(tr("report.f_policy_x", lang))
    ax.set_ylabel(tr("report.f_policy_y", lang))
    ax.legend(fontsize=8)
    return _save(fig, path)


def _fmt_dep(value: object, lang: str) -> str:
    """A deposition (mol N/ha/yr) for a table: 3 decimals below 10, else 1."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return fmt_number(value, 1, lang)
    return fmt_number(v, 3 if abs(v) < 10 else 1, lang)


#: The PNG of :func:`fig_policy` in the report folder.
POLICY_FIGURE = "policy_area_thresholds.png"
#: Deposition columns of the policy tables shown with :func:`_fmt_dep`.
POLICY_DEP_COLUMNS = ("binding_sum_mol_ha", "binding_sum_next_mol_ha", "bound_mol_ha", "max_sum_mol_ha", "mean_sum_mol_ha")


def policy_section(
    area_thr: pd.DataFrame | None, rules: pd.DataFrame | None, out: Path, lang: str = DEFAULT_LANGUAGE,
    *, figures_done: bool = False, reductions: pd.DataFrame | None = None,
    variants: pd.DataFrame | None = None,
) -> str:
    """HTML of the policy section: the thresholds-per-area figure and table (area names, not
    codes) and the table of named and relative thresholds with their sources; empty without
    the policy stage's tables."""
    if area_thr is None or rules is None:
        return ""
    parts = [f"<h2>{escape(tr('report.policy_title', lang))}</h2>"]
    bound = area_thr[["bound_value", "bound_kind", "scope"]].iloc[0] if len(area_thr) else None
    if bound is not None:
        kind = tr("report.policy_bound_mol_ha" if bound["bound_kind"] == "mol_ha" else "report.policy_bound_kdw", lang,
                  value=fmt_number(float(bound["bound_value"]) * (1 if bound["bound_kind"] == "mol_ha" else 100), 3, lang))
        scope = tr("report.policy_scope_overloaded" if bound["scope"] == "overloaded" else "report.policy_scope_sensitive", lang)
        parts.append(f"<p>{escape(tr('report.policy_caption', lang, bound=kind, scope=scope))}</p>")
        png = out / POLICY_FIGURE
        if not figures_done:
            fig_policy(area_thr, png, lang)
        title = tr("report.policy_fig", lang)
        parts.append(f'<img src="{escape(png.name, quote=True)}" alt="{escape(title, quote=True)}">')
        t = pd.to_numeric(area_thr["area_threshold_mol_ha"], errors="coerce")
        shown = area_thr.assign(
            name=area_thr["name"] if "name" in area_thr else area_thr["site_code"],
            threshold_text=[fmt_number(v, 3, lang) if np.isfinite(v) else tr("report.policy_all_fit", lang) for v in t],
        ).sort_values("area_threshold_mol_ha", kind="stable")
        shown = shown.assign(**{c: [_fmt_dep(v, lang) for v in shown[c]] for c in POLICY_DEP_COLUMNS if c in shown})
        parts.append(
            f"<h3>{escape(tr('report.policy_area_table', lang))}</h3>"
            + _table_html(shown, ["name", "threshold_text", "binding_receptor_id", "binding_sum_mol_ha",
                                  "binding_sum_next_mol_ha", "bound_mol_ha", "permit_free_sources",
                                  "sources_considered", "permit_free_nh3_kg"], lang, "policy-areas")
        )
    nat = rules.loc[rules["site_code"].astype(str) == "ALL"]
    if len(nat):
        unit = {"absolute_mol_ha": "mol/ha/j" if lang == "nl" else "mol/ha/yr", "pct_kdw": tr("report.policy_pct_kdw", lang)}
        nat = nat.assign(rule_value=[f"{fmt_number(v, 3, lang)} {unit.get(k, '')}" for v, k in zip(nat["value"], nat["kind"], strict=True)])
        nat = nat.assign(**{c: [_fmt_dep(v, lang) for v in nat[c]] for c in POLICY_DEP_COLUMNS if c in nat})
        parts.append(
            f"<h3>{escape(tr('report.policy_rules_table', lang))}</h3><p>{escape(tr('report.policy_rules_caption', lang))}</p>"
            + _table_html(nat, ["rule", "rule_value", "applies_to", "n_sources_below", "emission_below_kg_nh3",
                                "max_sum_mol_ha", "mean_sum_mol_ha", "ha_tipped_overload", "source"], lang, "policy-rules")
        )
    parts.append(reductions_html(reductions, lang))
    parts.append(zone_variants_html(variants, lang))
    return "".join(parts)


def reductions_html(table: pd.DataFrame | None, lang: str = DEFAULT_LANGUAGE) -> str:
    """The required extra zone reduction per area and target (``policy_reductions.csv``), one
    table per target, areas by name; "" without the table."""
    if table is None or not len(table):
        return ""
    parts = [
        f"<h3>{escape(tr('report.policy_reductions_table', lang))}</h3>"
        f"<p>{escape(tr('report.policy_reductions_caption', lang, baseline=fmt_number(table['baseline_pct'].max(), 1, lang)))}</p>"
    ]
    for target, rows in table.groupby("target", sort=False):
        reach = int(rows["reachable"].astype(bool).sum())
        shown = rows.assign(
            name=rows["name"] if "name" in rows else rows["site_code"],
            status=[tr(REDUCTION_STATUS_KEYS.get(str(v), "report.red_extra_needed"), lang) for v in rows["status"]],
        ).sort_values("extra_pct_points", kind="stable", na_position="last")
        head = tr("report.policy_reductions_target", lang, target=target, kind=str(rows["kind"].iloc[0]),
                  value=fmt_number(float(rows["target_value"].iloc[0]), 2, lang), reach=reach, n=len(rows))
        parts.append(
            f"<h4>{escape(head)}</h4>"
            + _table_html(shown, ["name", "status", "extra_pct_points", "nh3_cut_kg", "zone_farms",
                                  "metric_before", "metric_after"], lang, f"policy-reduction-{safe_file_stem(target)}")
        )
    return "".join(parts)


def zone_variants_html(table: pd.DataFrame | None, lang: str = DEFAULT_LANGUAGE) -> str:
    """The zone bases compared nationally (``policy_zone_variants.csv``, rows ``ALL``); "" without
    the table."""
    if table is None or not len(table):
        return ""
    nat = table.loc[table["site_code"].astype(str) == NATIONAL_ROW]
    nat = nat.assign(variant=[tr(ZONE_VARIANT_KEYS.get(str(v), "report.variant_area_edge"), lang) for v in nat["variant"]])
    return (
        f"<h3>{escape(tr('report.policy_variants_table', lang))}</h3>"
        f"<p>{escape(tr('report.policy_variants_caption', lang))}</p>"
        + _table_html(nat, ["variant", "zone_ha", "farmland_ha", "farms", "emission_kg_nh3",
                            "per_kg_inside_sum_mol", "per_kg_outside_sum_mol", "ratio_inside_outside"],
                      lang, "policy-variants")
    )


def unknown_note(proposal: pd.DataFrame, lang: str = DEFAULT_LANGUAGE) -> str:
    """Escaped HTML paragraph naming the areas of the zone proposal without habitat data.

    Parameters
    ----------
    proposal
        The zone proposal table (:func:`n2kzones.selection.propose_widths`).

    Returns
    -------
    str
        ``<p class="unknown-note">`` saying their zone decision and overload are unknown
        (reason code :data:`~n2kzones.selection.UNKNOWN_NO_HABITAT`), or "" when every area has
        habitat data.
    """
    if "reason_code" not in proposal:
        return ""
    unknown = proposal["reason_code"].astype(str).eq(UNKNOWN_NO_HABITAT)
    codes = sorted(proposal.loc[unknown, "site_code"].astype(str))
    if not codes:
        return ""
    note = tr(
        "report.unknown_note",
        lang,
        n=len(codes),
        unknown=tr("area.reason_no_habitat_data", lang),
        codes=", ".join(codes),
    )
    return f'<p class="unknown-note">{escape(note)}</p>'


def habitat_note(area_deposition: pd.DataFrame | None, lang: str = DEFAULT_LANGUAGE) -> str:
    """Escaped HTML paragraph naming the areas whose habitat is not a habitat-type map.

    Parameters
    ----------
    area_deposition
        The per-area deposition table with ``site_code`` and ``habitat_source``; None where
        the deposition stage did not run.

    Returns
    -------
    str
        ``<p class="habitat-note">`` per habitat source other than a habitat map (e.g. the
        stand-in of :func:`n2kzones.habitats.objective_standin`): how many areas, which, and
        that their hectares and overload come from that stand-in; "" when every area's
        habitat is a habitat map (or the column is absent).
    """
    if area_deposition is None:
        return ""
    rows = standin_areas(area_deposition)
    out = []
    for label, group in rows.groupby(HABITAT_SOURCE_COLUMN, sort=True):
        codes = sorted(group["site_code"].astype(str))
        head = tr("report.standin_head", lang, n=len(codes))
        body = tr("report.standin_body", lang, label=str(label), codes=", ".join(codes))
        out.append(f'<p class="habitat-note"><b>{escape(head)}</b> {escape(body)}</p>')
    return "".join(out)


def landuse_note(landuse_source: dict[str, int] | None, lang: str = DEFAULT_LANGUAGE) -> str:
    """Escaped HTML paragraph saying at how many receptors the class-aware model took the land
    use from the habitat-type mapping instead of a land-use raster.

    Parameters
    ----------
    landuse_source
        ``receptor_landuse_source`` of the deposition manifest: receptors per source
        (``raster``, ``habitat_mapping``); None where the model is not class-aware.

    Returns
    -------
    str
        ``<p class="landuse-note">`` "Land use at N of M receptors from the habitat-type
        mapping (no land-use raster)" (or "(no data in the land-use raster there)" when a
        raster gave the others), or "" when no receptor used the mapping.
    """
    if not landuse_source:
        return ""
    n_map = int(landuse_source.get("habitat_mapping", 0))
    n = n_map + int(landuse_source.get("raster", 0))
    if n_map == 0:
        return ""
    why = tr("report.landuse_why_none" if n_map == n else "report.landuse_why_partly", lang)
    text = tr("report.landuse_note", lang, n_map=n_map, n=n, why=why)
    return f'<p class="landuse-note">{escape(text)}</p>'


def grid_note(outside_grid: dict[str, list[str]], lang: str = DEFAULT_LANGUAGE) -> str:
    """Escaped HTML paragraphs naming the areas whose maps the deposition grid does not cover.

    Parameters
    ----------
    outside_grid
        ``areas_outside_grid`` / ``areas_partly_outside_grid`` -> site codes.

    Returns
    -------
    str
        One ``<p class="grid-note">`` per non-empty list, or "".
    """
    texts = {
        "areas_outside_grid": "report.grid_outside",
        "areas_partly_outside_grid": "report.grid_partly",
    }
    out = []
    for key, text_key in texts.items():
        codes = outside_grid.get(key) or []
        if codes:
            note = tr(text_key, lang, n=len(codes), codes=", ".join(codes))
            out.append(f'<p class="grid-note">{escape(note)}</p>')
    return "".join(out)


_LEFT = ' class="l"'


def area_index(rows: list[dict[str, object]], lang: str = DEFAULT_LANGUAGE) -> str:
    """Escaped HTML table of the areas for the report index: name and code, links to the
    area's map and analysis page, zone width (m) and overloaded habitat (ha).

    Parameters
    ----------
    rows
        One dict per area with ``site_code``, ``name``, ``map_href`` and ``page_href``
        (None where absent), ``zone_width_m`` and ``overloaded_ha`` (NaN where unknown), and
        optionally ``pdf_href`` (a PDF column appears when any row has one).
    lang
        Language of the headers and link texts.
    """

    def s(key: str) -> str:
        return tr(key, lang)

    with_pdf = any(r.get("pdf_href") for r in rows)
    body = []
    for r in rows:
        code, name = str(r["site_code"]), str(r["name"])
        label = f"{name} ({code})" if name != code else code
        cells = [
            escape(label),
            _link(str(r["map_href"]), s("report.map")) if r.get("map_href") else "",
            _link(str(r["page_href"]), s("report.analysis")) if r.get("page_href") else "",
            *(
                [_link(str(r["pdf_href"]), s("report.area_pdf")) if r.get("pdf_href") else ""]
                * with_pdf
            ),
            fmt_number(r.get("zone_width_m"), 0, lang),
            fmt_number(r.get("overloaded_ha"), 1, lang),
        ]
        tds = "".join(f"<td{_LEFT if i == 0 else ''}>{c}</td>" for i, c in enumerate(cells))
        body.append(f"<tr>{tds}</tr>")
    keys = (
        "report.area",
        "report.map",
        "report.analysis",
        *(("report.area_pdf",) * with_pdf),
        "report.width",
        "report.overloaded",
    )
    head = "".join(f"<th{_LEFT if i == 0 else ''}>{escape(s(k))}</th>" for i, k in enumerate(keys))
    return (
        f'<h2>{escape(s("report.areas"))}</h2><table class="t" id="areas">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


#: The report's figures in the order shown: (table key, title key, caption key, function,
#: PNG name); each is drawn where its table has rows. The policy figure
#: (:data:`POLICY_FIGURE`) comes with the policy section.
FIGURES: tuple[tuple[str, str, str, FigureFn, str], ...] = (
    ("rko_sweep", "report.rko_title", "report.rko_caption", fig_rko, "rko_sweep.png"),
    (
        "area_deposition",
        "report.overload_title",
        "report.overload_caption",
        fig_overload,
        "overload_per_area.png",
    ),
    (
        "zone_proposal",
        "report.proposal_title",
        "report.proposal_caption",
        fig_proposal,
        "zone_proposal.png",
    ),
    ("scenarios", "report.scenarios_title", "report.scenarios_caption", fig_scenarios, "scenarios.png"),
)


def figure_jobs(
    out_dir: Path, tables: Mapping[str, pd.DataFrame | None], lang: str = DEFAULT_LANGUAGE
) -> list[FigureJob]:
    """The figures :func:`render_report` shows for ``tables``, as jobs for
    :func:`start_figures` (PNGs in ``out_dir``): those of :data:`FIGURES` whose table has rows,
    and the policy figure where the policy tables are there (:func:`policy_section`)."""
    out = Path(out_dir)
    jobs: list[FigureJob] = [
        (fig, table, out / png, lang)
        for key, _, _, fig, png in FIGURES
        if (table := tables.get(key)) is not None and len(table)
    ]
    area_thr, rules = tables.get("policy_area_thresholds"), tables.get("policy_thresholds")
    if area_thr is not None and rules is not None and len(area_thr):
        jobs.append((fig_policy, area_thr, out / POLICY_FIGURE, lang))
    return jobs


def render_report(
    out_dir: Path,
    *,
    tables: dict[str, pd.DataFrame | None],
    links: list[tuple[str, str, str]],
    map_pages: list[tuple[str, str]],
    data_date: str,
    config_name: str,
    outside_grid: dict[str, list[str]] | None = None,
    landuse_source: dict[str, int] | None = None,
    areas: list[dict[str, object]] | None = None,
    pdf_href: str | None = None,
    appendix: str = "",
    file_name: str = "index.html",
    figures_done: bool = False,
    extra_css: str = "",
    lang: str = DEFAULT_LANGUAGE,
    workers: int = 1,
) -> Path:
    """Write ``index.html`` and its PNG figures into ``out_dir``; returns the HTML path.

    Parameters
    ----------
    out_dir
        Folder of the report.
    tables
        Catalogue key -> table (``rko_sweep``, ``area_deposition``, ``zone_proposal``,
        ``scenarios``); None or missing where that stage did not run.
    links
        (href relative to the report, file name, description) of each output to link.
    map_pages
        (href relative to the report, label) of the overview first, then each area map.
    data_date, config_name
        For the footer.
    outside_grid
        ``areas_outside_grid`` and ``areas_partly_outside_grid`` of the maps stage's manifest:
        site codes whose maps lack (part of) the raster layers; a line under the maps names them.
    landuse_source
        ``receptor_landuse_source`` of the deposition manifest (receptors per land-use
        source); a line says how many took the habitat-type mapping (:func:`landuse_note`).
    areas
        Rows of :func:`area_index`: the index then names each area and links its map and
        analysis page (``map_pages`` then gives the overview only).
    pdf_href
        Link to the report's PDF, when one is written.
    appendix
        HTML added after the sections (the area analyses in the printed report).
    file_name
        Name of the page in ``out_dir``.
    figures_done
        The PNG figures are in ``out_dir`` already (a second page of the same report, or
        drawn by :func:`start_figures` on :func:`figure_jobs` meanwhile).
    extra_css
        CSS added to the page's style (the area sections' rules in the printed report).
    lang
        Language of the page (``<html lang>``) and its text (``nl`` or ``en``).
    workers
        Processes to draw the figures in (:func:`draw_figures`; the PNGs are the same for
        any number).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections: list[str] = []
    note = habitat_note(tables.get("area_deposition"), lang)
    if note:
        sections.append(note)
    note = landuse_note(landuse_source, lang)
    if note:
        sections.append(note)
    if pdf_href:
        sections.append(f"<p>{escape(tr('report.pdf', lang))}{_link(pdf_href, pdf_href)}</p>")
    items = [f"<li>{_link(href, label)}</li>" for href, label in map_pages]
    sections.append(
        f"<h2>{escape(tr('report.maps', lang))}</h2>"
        + (
            f"<ul>{''.join(items)}</ul>"
            if items
            else f"<p>{escape(tr('report.no_maps', lang, command='n2kzones maps'))}</p>"
        )
        + grid_note(outside_grid or {}, lang)
    )
    if areas:
        sections.append(area_index(areas, lang))
    link_items = [f"<li>{_link(href, name)}: {escape(d)}</li>" for href, name, d in links]
    sections.append(f"<h2>{escape(tr('report.tables', lang))}</h2><ul>{''.join(link_items)}</ul>")

    figures = [
        (tr(title_key, lang), tr(caption_key, lang), out / png)
        for key, title_key, caption_key, _, png in FIGURES
        if (table := tables.get(key)) is not None and len(table)
    ]
    area_thr, rules = tables.get("policy_area_thresholds"), tables.get("policy_thresholds")
    if not figures_done:
        draw_figures(figure_jobs(out, tables, lang), workers=workers)
    prop, sc = tables.get("zone_proposal"), tables.get("scenarios")
    for title, text, png in figures:
        sections.append(
            f"<h2>{escape(title)}</h2><p>{escape(text)}</p>"
            f'<img src="{escape(png.name, quote=True)}" alt="{escape(title, quote=True)}">'
        )
    if prop is not None and len(prop):
        sections.append(
            unknown_note(prop, lang)
            + f"<h3>{escape(tr('report.proposal_table', lang))}</h3>"
            + _table_html(
                prop,
                [
                    "site_code",
                    "name",
                    "habitat_data",
                    "overloaded_ha",
                    "dep_within_500m_mol_ha",
                    "dep_500_1000m_mol_ha",
                    "rank",
                    "proposed_width_m",
                    "official_width_m",
                    "final_width_m",
                    ZONE_WIDTH_COLUMN,
                    "reason",
                ],
                lang,
                "proposal",
            )
        )
    policy = policy_section(
        area_thr, rules, out, lang, figures_done=True,  # drawn above
        reductions=tables.get("policy_reductions"), variants=tables.get("policy_zone_variants"),
    )
    if policy:
        sections.append(policy)
    if sc is not None and len(sc):
        tot = scenario_totals(sc)
        sections.append(
            f"<h3>{escape(tr('report.scenario_totals', lang))}</h3>"
            + _table_html(tot, list(tot.columns), lang, "scenario-totals")
        )

    html = f"""<!DOCTYPE html>
<html lang="{escape(lang, quote=True)}">
<head>
<meta charset="utf-8">
<title>{escape(tr("report.title", lang))}</title>
<style>
body {{ font-family: sans-serif; max-width: 1200px; margin: 1em auto; padding: 0 1em; }}
img {{ max-width: 100%; }}
table.t {{ border-collapse: collapse; font-size: 13px; }}
table.t td, table.t th {{ border-bottom: 1px solid #ddd; padding: 2px 6px; text-align: right; }}
table.t td.l, table.t th.l {{ text-align: left; }}
footer {{ margin-top: 2em; color: #666; font-size: 12px; }}
{extra_css}
</style>
</head>
<body>
<h1>{escape(tr("report.title", lang))}</h1>
{"".join(sections)}
{appendix}
<footer>{escape(tr("report.footer", lang, date=data_date, config=config_name))}</footer>
</body>
</html>
"""
    path = out / file_name
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    log.info("wrote %s with %d figures", path, len(figures))
    return path
