"""The deposition model: one object holding how deposition is computed, used everywhere.

Every stage and analysis that computes deposition (the deposition stage, the RKO maxima and
sweep, the zone selection, scenarios and effectiveness) takes a :class:`DepositionModel`
built once from the config, so a figure in a map, a table and the report comes from the
same kernel, wind rose, range, receptor disc and implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from n2kzones.deposition.classes import KernelTable, ReceptorTerms, SourceTerms
from n2kzones.deposition.distributed import deposition_at_points_on, max_contribution_on
from n2kzones.deposition.kernel import RadialKernel, WindRose

if TYPE_CHECKING:
    from n2kzones.compute import Backend

#: Receptor columns a class-aware model reads (land-use class name, z0 in m, NH3 in ug/m3).
RECEPTOR_CLASS_COLUMNS = ("landuse", "z0_m", "nh3_bg_ug_m3")


@dataclass(frozen=True)
class DepositionModel:
    """Kernel and settings to compute deposition from point sources at receptors.

    Parameters
    ----------
    kernel
        Radial kernel, mol N/ha/yr per kg NH3/yr against distance.
    wind_rose
        Direction weights (None: isotropic).
    cutoff_m
        Calculation range in m (None: every pair).
    implementation
        ``"numba"`` or ``"numpy"`` (the reference).
    receptor_radius_m
        Near-source averaging radius in m (None: 1 ha disc; 0: point values).
    classes
        Kernels per source height and receptor land use, z0 and NH3 background
        (:class:`~n2kzones.deposition.classes.KernelTable`); None: ``kernel`` for every pair.
        With classes, :meth:`at_points` and :meth:`max_contribution` need the sources'
        heights and the receptors' classes.
    """

    kernel: RadialKernel
    wind_rose: WindRose | None = None
    cutoff_m: float | None = None
    implementation: str = "numba"
    receptor_radius_m: float | None = None
    classes: KernelTable | None = None

    def _class_terms(
        self, n_sources: int, n_receptors: int, source_height_m: np.ndarray | None, receptor_classes: ReceptorTerms | None
    ) -> tuple[SourceTerms, ReceptorTerms] | None:
        if self.classes is None:
            return None
        if source_height_m is None or receptor_classes is None:
            raise ValueError("a class-aware model needs source_height_m and receptor_classes")
        if len(source_height_m) != n_sources or len(receptor_classes) != n_receptors:
            raise ValueError("source_height_m / receptor_classes do not match the sources / receptors")
        return SourceTerms.from_heights(self.classes, source_height_m), receptor_classes

    def classes_for(self, sources: Any = None, receptors: Any = None) -> dict[str, Any]:
        """Keyword arguments of :meth:`at_points` for these source and receptor frames.

        Empty for a radial model. A class-aware model takes the sources' ``source_height_m``
        (m) and the receptors' ``landuse``, ``z0_m`` and ``nh3_bg_ug_m3`` columns (the
        deposition stage writes them); a missing column is an error naming it.
        """
        if self.classes is None:
            return {}
        out: dict[str, Any] = {}
        if sources is not None:
            if "source_height_m" not in sources:
                raise ValueError("a class-aware model needs the sources' source_height_m column")
            out["source_height_m"] = np.asarray(sources["source_height_m"], dtype=np.float64)
        if receptors is not None:
            missing = [c for c in RECEPTOR_CLASS_COLUMNS if c not in receptors]
            if missing:
                raise ValueError(f"a class-aware model needs the receptors' columns {missing}")
            out["receptor_classes"] = ReceptorTerms.from_values(
                self.classes, receptors["landuse"].to_numpy(), receptors["z0_m"].to_numpy(float),
                receptors["nh3_bg_ug_m3"].to_numpy(float),
            )
        return out

    def with_cutoff(self, cutoff_m: float | None) -> DepositionModel:
        """The same model with another calculation range (m)."""
        return replace(self, cutoff_m=cutoff_m)

    def at_points(
        self,
        sx: np.ndarray,
        sy: np.ndarray,
        emission_kg_nh3: np.ndarray,
        rx: np.ndarray,
        ry: np.ndarray,
        groups: np.ndarray | None = None,
        n_groups: int | None = None,
        *,
        backend: Backend | None = None,
        source_height_m: np.ndarray | None = None,
        receptor_classes: ReceptorTerms | None = None,
    ) -> np.ndarray:
        """Deposition in mol N/ha/yr at receptors ``(rx, ry)`` (m) from sources ``(sx, sy)``.

        See :func:`~n2kzones.deposition.engine.deposition_at_points`; ``groups`` splits the
        sum by source group (shape ``(n_groups, n_receptors)``). ``backend`` spreads the
        receptors over a cluster with identical results. A class-aware model also takes the
        sources' heights (m) and the receptors' classes.
        """
        terms = self._class_terms(len(sx), len(rx), source_height_m, receptor_classes)
        return deposition_at_points_on(
            backend, sx, sy, emission_kg_nh3, rx, ry, self.kernel,
            wind_rose=self.wind_rose, cutoff_m=self.cutoff_m, groups=groups, n_groups=n_groups,
            engine=self.implementation, receptor_radius_m=self.receptor_radius_m,
            **({} if terms is None else {"classes": (self.classes, *terms)}),
        )

    def max_contribution(
        self,
        sx: np.ndarray,
        sy: np.ndarray,
        emission_kg_nh3: np.ndarray,
        rx: np.ndarray,
        ry: np.ndarray,
        *,
        backend: Backend | None = None,
        source_height_m: np.ndarray | None = None,
        receptor_classes: ReceptorTerms | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every source's largest deposition (mol N/ha/yr) on any receptor, and that receptor's
        index (see :func:`~n2kzones.deposition.maxima.max_contribution`)."""
        terms = self._class_terms(len(sx), len(rx), source_height_m, receptor_classes)
        return max_contribution_on(
            backend, sx, sy, emission_kg_nh3, rx, ry, self.kernel,
            wind_rose=self.wind_rose, cutoff_m=self.cutoff_m, receptor_radius_m=self.receptor_radius_m,
            **({} if terms is None else {"classes": (self.classes, *terms)}),
        )
