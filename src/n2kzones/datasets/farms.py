"""Farm types, herd sizes and source heights shared by the data-set generators.

Both :mod:`n2kzones.datasets.sample` and :mod:`n2kzones.datasets.synthetic` draw farms from
these tables, so a sample farm and a synthetic farm of the same type look alike.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from n2kzones.params import Parameters

#: Farm types (Dutch sector names) and the share of each among generated farms.
FARM_TYPES = ("melkvee", "vleesvee", "varkens", "pluimvee", "gemengd", "schapen_geiten")
FARM_TYPE_P = np.array([0.40, 0.11, 0.14, 0.07, 0.10, 0.18])
HEIGHT_RANGE_M = {
    "melkvee": (4.0, 7.0),
    "vleesvee": (3.5, 6.0),
    "varkens": (5.0, 8.0),
    "pluimvee": (5.0, 8.0),
    "gemengd": (4.0, 7.5),
    "schapen_geiten": (3.0, 5.5),
}
GENERATED_ANIMALS = ("rundvee", "varkens", "kippen", "schapen", "geiten")


def herds(
    rng: np.random.Generator, ftype: NDArray[np.int8], params: Parameters
) -> tuple[dict[str, NDArray[np.int32]], NDArray[np.float64]]:
    """Animal counts per farm and the hectares each farm aims to own."""
    n = len(ftype)
    ln = rng.lognormal
    counts = {c: np.zeros(n) for c in GENERATED_ANIMALS}
    u = rng.uniform(size=(n, 4))
    t = ftype
    # melkvee
    m = t == 0
    counts["rundvee"][m] = np.clip(ln(np.log(150), 0.45, m.sum()), 30, 900)
    counts["schapen"][m] = np.where(u[m, 0] < 0.15, rng.integers(5, 41, m.sum()), 0)
    # vleesvee
    m = t == 1
    counts["rundvee"][m] = np.clip(ln(np.log(85), 0.6, m.sum()), 12, 800)
    # varkens
    m = t == 2
    counts["varkens"][m] = np.clip(ln(np.log(2800), 0.7, m.sum()), 200, 20_000)
    # pluimvee
    m = t == 3
    counts["kippen"][m] = np.clip(ln(np.log(45_000), 0.7, m.sum()), 2_000, 300_000)
    # gemengd
    m = t == 4
    counts["rundvee"][m] = np.clip(ln(np.log(80), 0.5, m.sum()), 15, 400)
    counts["varkens"][m] = np.clip(ln(np.log(900), 0.6, m.sum()), 50, 6_000)
    hens = np.clip(ln(np.log(8_000), 0.6, m.sum()), 500, 40_000)
    counts["kippen"][m] = np.where(u[m, 1] < 0.3, hens, 0)
    # schapen_geiten: 60 % sheep farms, 40 % dairy goat farms
    m = t == 5
    sheep = u[m, 2] < 0.6
    counts["schapen"][m] = np.where(
        sheep,
        np.clip(ln(np.log(170), 0.6, m.sum()), 20, 1_500),
        np.where(u[m, 3] < 0.3, rng.integers(5, 31, m.sum()), 0),
    )
    counts["geiten"][m] = np.where(
        sheep,
        np.where(u[m, 3] < 0.2, rng.integers(2, 21, m.sum()), 0),
        np.clip(ln(np.log(700), 0.5, m.sum()), 80, 4_000),
    )
    animals = {c: np.round(v).astype(np.int32) for c, v in counts.items()}

    lv = params.livestock
    gve_cattle = animals["rundvee"] * lv["rundvee"].gve_per_animal
    gve_small = (
        animals["schapen"] * lv["schapen"].gve_per_animal
        + animals["geiten"] * lv["geiten"].gve_per_animal
    )
    dens = rng.uniform(size=n)
    ha = np.empty(n)
    ha[t == 0] = gve_cattle[t == 0] / (1.5 + 2.0 * dens[t == 0])
    ha[t == 1] = gve_cattle[t == 1] / (1.2 + 1.8 * dens[t == 1])
    ha[t == 2] = 1.0 + 11.0 * dens[t == 2]
    ha[t == 3] = 0.5 + 5.5 * dens[t == 3]
    ha[t == 4] = gve_cattle[t == 4] / (1.5 + 1.5 * dens[t == 4]) + 5.0 + 15.0 * u[t == 4, 0]
    m = t == 5
    ha[m] = gve_small[m] / np.where(u[m, 2] < 0.6, 1.0 + 2.0 * dens[m], 2.5 + 3.5 * dens[m])
    return animals, np.clip(ha, 0.5, 150.0)
