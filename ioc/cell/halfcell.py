"""A half cell (cathode vs Li metal) whose current is shared by individual agglomerates.

All agglomerates sit at one electrode potential phi (V vs Li/Li+). Each takes a
Butler-Volmer current set by its own exchange current (lognormal spread, zero for
inactive ones) and its surface lithiation; the electrode's total equals the applied
current. The imaged agglomerates are a handful of the electrode's particles: a bulk
population of representative particles, each standing for many real ones, carries
the rest of the active mass and so sets phi. Cell voltage = phi + I R_series.

Each step solves diffusion, surface kinetics and the current (or voltage) constraint
together, linearised once about the start of the step (one Newton step of the coupled
problem): stable for steps of seconds even where the OCP is steep, and lithium is
conserved to rounding. Sign convention (Battery Data Format): charging current
positive = delithiation of the cathode.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from .electrode import Electrode
from .intercalation import FARADAY_C_MOL, GAS_J_MOL_K, MATERIALS
from .ocp import OCP
from .solid_diffusion import SphericalDiffusion, solve_tridiagonal

TEMPERATURE_K = 298.15
K_BV = FARADAY_C_MOL / (2 * GAS_J_MOL_K * TEMPERATURE_K)      # 1/V, symmetric Butler-Volmer


@dataclass
class CellReading:
    """Cell-level state after a step (s, A, V, C)."""
    time_s: float = 0.0
    current_a: float = 0.0
    voltage_v: float = 0.0
    charge_c: float = 0.0


class HalfCell:
    """The electrochemistry of the virtual cell; deterministic for a given electrode and seed."""

    def __init__(self, electrode: Electrode, active_mass_kg: float = 3e-6, series_resistance_ohm: float = 15.0,
                 n_bulk: int = 16, seed: int = 0, n_shells: int = 24):
        m = MATERIALS[electrode.material]
        self.material = m
        self.ocp = OCP[electrode.material]
        self.series_resistance_ohm = series_resistance_ohm
        self.active_mass_kg = active_mass_kg
        rng = np.random.default_rng(seed)
        aggs = electrode.agglomerates
        imaged_r = np.array([np.prod(a.semi_axes_um) ** (1 / 3) * 1e-6 for a in aggs])   # equal-volume spheres
        bulk_r = rng.uniform(1.25e-6, 3.75e-6, size=n_bulk)
        self.labels = np.array([a.label for a in aggs] + [-(k + 1) for k in range(n_bulk)])
        self.imaged = np.array([True] * len(aggs) + [False] * n_bulk)
        active = np.array([a.active for a in aggs] + [True] * n_bulk)
        self.i0_scale = np.where(active, rng.lognormal(0.0, 0.5, size=active.size), 0.0)
        self.volume_factor = np.where(active, np.clip(rng.normal(1.0, 0.3, size=active.size), 0.4, 1.6), 0.0)
        mass = 4 / 3 * np.pi * np.concatenate([imaged_r, bulk_r]) ** 3 * m.density_kg_m3
        bulk_count = max(active_mass_kg - mass[self.imaged].sum(), 0.0) / mass[~self.imaged].sum()
        self.counts = np.where(self.imaged, 1.0, bulk_count)
        self.solid = SphericalDiffusion(np.concatenate([imaged_r, bulk_r]), m.diffusivity, m.c_max_mol_m3,
                                        m.x_pristine, n_shells)
        self.particle_current_a = np.zeros(active.size)
        self.reading = CellReading()
        self.phi_v = self._equilibrium_phi()
        self.reading.voltage_v = self.phi_v

    # --- properties ---------------------------------------------------------------------
    @property
    def capacity_ah(self) -> float:
        """Nominal capacity (A h) that defines 1C."""
        return self.active_mass_kg * self.material.specific_capacity_ah_kg

    def lithium_mol(self) -> float:
        return float(np.dot(self.counts, self.solid.lithium_mol()))

    def _kinetics(self, phi):
        """Per particle: reaction current (A), d/dphi and d/dx_surface (A/V, A per unit x)."""
        xs = self.solid.surface_x
        u = self.ocp(xs)
        du_dx = (self.ocp(xs + 1e-4) - self.ocp(xs - 1e-4)) / 2e-4
        theta = np.clip(xs * (1.0 - xs), 1e-6, 0.25)
        a_i0 = self.solid.surface_area_m2 * self.material.i0_ref_a_m2 * self.i0_scale * np.sqrt(theta / 0.25)
        arg = np.clip(K_BV * (phi - u), -40.0, 40.0)
        current = 2.0 * a_i0 * np.sinh(arg)
        g_phi = 2.0 * a_i0 * K_BV * np.cosh(arg)
        return current, g_phi, -g_phi * du_dx

    def _equilibrium_phi(self) -> float:
        """phi at which the electrode passes no net current."""
        u = self.ocp(self.solid.surface_x)
        f = lambda phi: float(np.dot(self.counts, self._kinetics(phi)[0]))  # noqa: E731
        return brentq(f, u.min() - 1.0, u.max() + 1.0, xtol=1e-10)

    # --- stepping -------------------------------------------------------------------------
    MAX_SURFACE_CHANGE = 0.02     # largest change of a surface-shell x accepted in one linearised step
    MAX_POTENTIAL_CHANGE_V = 0.5  # largest change of the electrode potential in one linearised step
    # (above any kinetic overpotential jump at a current step; below a collapse at full surfaces)

    def _advance(self, dt_s: float, current_a: float | None = None, voltage_v: float | None = None,
                 depth: int = 0) -> float:
        """One linearised step; halves itself (up to 8 times) where a surface would change too fast or leave (0, 1),
        or the electrode potential would jump."""
        s = self.solid
        fc = FARADAY_C_MOL * s.c_max
        i0, g_phi, g_x = self._kinetics(self.phi_v)
        sub, diag, sup, cap = s.matrix(dt_s)
        diag[:, -1] += g_x / fc
        x_n0 = s.surface_x.copy()
        rhs = cap * s.x
        e_n = np.zeros_like(rhs)
        e_n[:, -1] = 1.0
        y = solve_tridiagonal(sub, diag, sup, rhs - ((i0 - g_x * x_n0) / fc)[:, None] * e_n)
        z = solve_tridiagonal(sub, diag, sup, -(g_phi / fc)[:, None] * e_n)
        s0 = np.dot(self.counts, i0 + g_x * (y[:, -1] - x_n0))
        s1 = np.dot(self.counts, g_phi + g_x * z[:, -1])
        if voltage_v is None:
            d_phi = (current_a - s0) / s1
        else:
            r = self.series_resistance_ohm
            d_phi = (voltage_v - self.phi_v - r * s0) / (1.0 + r * s1)
        x_new = y + d_phi * z
        too_fast = (np.max(np.abs(x_new[:, -1] - x_n0)) > self.MAX_SURFACE_CHANGE
                    or x_new[:, -1].max() >= 1.0 or x_new[:, -1].min() <= 0.0
                    or abs(d_phi) > self.MAX_POTENTIAL_CHANGE_V)
        if too_fast and depth < 8:
            self._advance(dt_s / 2, current_a, voltage_v, depth + 1)
            return self._advance(dt_s / 2, current_a, voltage_v, depth + 1)
        limited = abs(d_phi) > self.MAX_POTENTIAL_CHANGE_V
        if limited:
            # Even the shortest step cannot carry the imposed current (surfaces full or empty):
            # the potential moves by its bound and the current is what the particles take,
            # as an instrument at its compliance would deliver.
            d_phi = float(np.clip(d_phi, -self.MAX_POTENTIAL_CHANGE_V, self.MAX_POTENTIAL_CHANGE_V))
            x_new = y + d_phi * z
        s.x = x_new
        self.particle_current_a = i0 + g_phi * d_phi + g_x * (x_new[:, -1] - x_n0)
        # Galvanostatic: the particle currents add up to the imposed current (to rounding).
        total = (float(current_a) if voltage_v is None and not limited
                 else float(np.dot(self.counts, self.particle_current_a)))
        self.phi_v += d_phi
        rd = self.reading
        rd.time_s += dt_s
        rd.current_a = total
        rd.charge_c += total * dt_s
        rd.voltage_v = self.phi_v + total * self.series_resistance_ohm
        return total

    def snapshot(self):
        """Everything a step changes, to undo it (used to land on voltage cut-offs)."""
        r = self.reading
        return (self.solid.x.copy(), self.phi_v, self.particle_current_a.copy(),
                CellReading(r.time_s, r.current_a, r.voltage_v, r.charge_c))

    def restore(self, snap) -> None:
        x, self.phi_v, currents, reading = snap
        self.solid.x = x.copy()
        self.particle_current_a = currents.copy()
        self.reading = CellReading(reading.time_s, reading.current_a, reading.voltage_v, reading.charge_c)

    def step_current(self, current_a: float, dt_s: float) -> float:
        """Pass current_a (A, charging positive) for dt_s; returns the cell voltage (V)."""
        self._advance(dt_s, current_a=current_a)
        return self.reading.voltage_v

    def step_voltage(self, voltage_v: float, dt_s: float) -> float:
        """Hold the cell at voltage_v (V) for dt_s; returns the current (A)."""
        return self._advance(dt_s, voltage_v=voltage_v)

    def rest(self, dt_s: float) -> float:
        """Open circuit for dt_s; returns the voltage (V)."""
        return self.step_current(0.0, dt_s)

    # --- what the microscope sees --------------------------------------------------------
    def mean_x(self) -> np.ndarray:
        return self.solid.mean_x()

    def volume_change(self) -> np.ndarray:
        """Delta V / V of every simulated agglomerate relative to its pristine state."""
        m = self.material
        return self.volume_factor * (m.volume_change(self.mean_x()) - m.volume_change(m.x_pristine))
