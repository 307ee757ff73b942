"""A half cell (cathode vs Li metal) whose current is shared by individual agglomerates.

All agglomerates sit at one electrode potential phi (V vs Li/Li+). Each is a sphere of
radial shells of primary particles; every shell takes a Butler-Volmer current set by the
agglomerate's exchange current (lognormal spread, zero for inactive ones), the shell's
lithiation (exchange_factor), the fraction of it that is wired and wetted (access) and the
ohmic loss in the pore electrolyte on the way in (agglomerate_rails); neighbouring shells
also exchange lithium slowly through the solid. The electrode's total equals the applied
current. The imaged agglomerates are a handful of the electrode's particles: a bulk
population of representative particles, each standing for many real ones, carries
the rest of the active mass and so sets phi. Cell voltage = phi + I R_series.

Each step solves solid exchange, shell kinetics, pore losses and the current (or voltage)
constraint together (a dense 2n x 2n system per particle, batched), linearised once about the
start of the step (one Newton step of the coupled
problem): stable for steps of seconds even where the OCP is steep, and lithium is
conserved to rounding. Sign convention (Battery Data Format): charging current
positive = delithiation of the cathode.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from .electrode import Electrode
from .electrolyte import ElectrolyteShells
from .intercalation import FARADAY_C_MOL, GAS_J_MOL_K, MATERIALS, exchange_factor
from .ocp import OCP
from .agglomerate_rails import rail_matrix
from .solid_diffusion import SphericalDiffusion

TEMPERATURE_K = 298.15
K_BV = FARADAY_C_MOL / (2 * GAS_J_MOL_K * TEMPERATURE_K)      # 1/V, symmetric Butler-Volmer


@dataclass
class CellReading:
    """Cell-level state after a step (s, A, V, C)."""
    time_s: float = 0.0
    current_a: float = 0.0
    voltage_v: float = 0.0
    charge_c: float = 0.0


def constrained_potential(phi_it: float, phi_now: float, s0: float, s1: float, current_a, voltage_v,
                          series_resistance_ohm: float, max_change_v: float) -> tuple[float, bool]:
    """The electrode potential (V) at which the electrode's linearised current s0 + s1 (phi - phi_it)
    (A) equals ``current_a`` (galvanostatic), or the cell voltage phi + I R equals ``voltage_v``;
    and whether it had to be bounded to ``max_change_v`` from ``phi_now``: even the shortest step
    cannot carry the imposed current (particles full or empty), so the potential moves by its
    bound and the current is what the particles take, as an instrument at compliance delivers."""
    if voltage_v is None:
        d_phi = (current_a - s0) / s1
    else:
        r = series_resistance_ohm
        d_phi = (voltage_v - phi_it - r * s0) / (1.0 + r * s1)
    phi = phi_it + d_phi
    limited = abs(phi - phi_now) > max_change_v
    if limited:
        phi = phi_now + float(np.clip(phi - phi_now, -max_change_v, max_change_v))
    return phi, limited


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
        self.volume_factor = np.where(active, np.clip(rng.normal(1.0, 0.12, size=active.size), 0.75, 1.25), 0.0)
        mass = 4 / 3 * np.pi * np.concatenate([imaged_r, bulk_r]) ** 3 * m.density_kg_m3
        bulk_count = max(active_mass_kg - mass[self.imaged].sum(), 0.0) / mass[~self.imaged].sum()
        self.counts = np.where(self.imaged, 1.0, bulk_count)
        self.solid = SphericalDiffusion(np.concatenate([imaged_r, bulk_r]), m.diffusivity, m.c_max_mol_m3,
                                        m.x_pristine, n_shells)
        s = self.solid
        self.shell_area_m2 = m.specific_area_m2_m3 * s.volumes_m3           # primary-particle surface per shell
        self.shell_current_a = np.zeros_like(s.x)
        self.rails = rail_matrix(s, m.pore_conductivity_s_m)
        self.particle_current_a = np.zeros(active.size)
        self.electrolyte = ElectrolyteShells(imaged_r)
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

    def access(self, x: np.ndarray) -> np.ndarray:
        """(P, n) fraction of each shell's primary particles that can react: wired and wetted
        through the shells outside it (1 at the surface), for shell lithium fractions x."""
        s = self.solid
        per_shell = s.dr_m[:, None] / (self.material.access_length_um(x) * 1e-6)
        outside = np.cumsum(per_shell[:, ::-1], axis=1)[:, ::-1] - per_shell      # shells m > k
        return np.exp(-(outside + 0.5 * per_shell))

    def _kinetics(self, phi: float, x: np.ndarray, shell_current: np.ndarray):
        """Per shell of every particle: Butler-Volmer current (A) at electrode potential phi (V),
        shell lithium x and pore losses from shell_current (A); its derivatives d/dphi (A/V)
        and d/dx (A per unit x)."""
        m = self.material
        u = self.ocp(x)
        du_dx = (self.ocp(x + 1e-4) - self.ocp(x - 1e-4)) / 2e-4
        a_i0 = self.shell_area_m2 * m.i0_ref_a_m2 * self.i0_scale[:, None] * self.access(x) * exchange_factor(x, m)
        eta = phi - u - np.einsum("pkl,pl->pk", self.rails, shell_current)
        arg = np.clip(K_BV * eta, -40.0, 40.0)
        current = 2.0 * a_i0 * np.sinh(arg)
        g_phi = 2.0 * a_i0 * K_BV * np.cosh(arg)
        return current, g_phi, -g_phi * du_dx

    def _equilibrium_phi(self) -> float:
        """phi at which the electrode passes no net current (shell currents at rest)."""
        x = self.solid.x
        f = lambda phi: float(np.dot(self.counts, self._kinetics(phi, x, self.shell_current_a)[0].sum(axis=1)))  # noqa: E731
        u = self.ocp(x)
        return brentq(f, u.min() - 1.0, u.max() + 1.0, xtol=1e-10)

    # --- stepping -------------------------------------------------------------------------
    MAX_SHELL_CHANGE = 0.02       # largest change of any shell's x accepted in one step
    MAX_POTENTIAL_CHANGE_V = 0.5  # largest change of the electrode potential in one step
    # (above any kinetic overpotential jump at a current step; below a collapse at full surfaces)
    NEWTON_TOLERANCE_V = 5e-4     # accepted overpotential error of the kinetics at the end of a step
    NEWTON_ITERATIONS = 6

    def _newton(self, dt_s, current_a, voltage_v, x_it, j_it, phi_it, kinetics, sub, diag, sup, cap):
        """One Newton iteration of the implicit step about (x_it, j_it, phi_it), where ``kinetics``
        = self._kinetics(phi_it, x_it, j_it): new (x, j, phi)."""
        s = self.solid
        n = s.n
        fc = FARADAY_C_MOL * s.c_max
        bv, g_phi, g_x = kinetics
        # Unknowns per particle: shell x (n) and shell current / (F c_max) (n), from
        #   solid exchange:  T x + J = cap x_old
        #   kinetics:        -(g_x/fc) x + (I + G M) J = (bv + G M j_it - g_x x_it)/fc + (G/fc) dphi
        p = x_it.shape[0]
        a = np.zeros((p, 2 * n, 2 * n))
        idx = np.arange(n)
        a[:, idx, idx] = diag
        a[:, idx[1:], idx[:-1]] = sub[:, 1:]
        a[:, idx[:-1], idx[1:]] = sup[:, :-1]
        a[:, idx, n + idx] = 1.0
        a[:, n + idx, idx] = -g_x / fc
        a[:, n:, n:] = g_phi[:, :, None] * self.rails
        a[:, n + idx, n + idx] += 1.0
        rhs = np.zeros((p, 2 * n, 2))
        rhs[:, :n, 0] = cap * s.x
        rhs[:, n:, 0] = (bv + g_phi * np.einsum("pkl,pl->pk", self.rails, j_it) - g_x * x_it) / fc
        rhs[:, n:, 1] = g_phi / fc
        sol = np.linalg.solve(a, rhs)
        y, z = sol[..., 0], sol[..., 1]
        s0 = np.dot(self.counts, y[:, n:].sum(axis=1)) * fc
        s1 = np.dot(self.counts, z[:, n:].sum(axis=1)) * fc
        phi, limited = constrained_potential(phi_it, self.phi_v, s0, s1, current_a, voltage_v,
                                             self.series_resistance_ohm, self.MAX_POTENTIAL_CHANGE_V)
        new = y + (phi - phi_it) * z
        return new[:, :n], new[:, n:] * fc, phi, limited

    def _advance(self, dt_s: float, current_a: float | None = None, voltage_v: float | None = None,
                 depth: int = 0) -> float:
        """One implicit step (Newton until the kinetics hold within NEWTON_TOLERANCE_V); halves
        itself (up to 8 times) where a shell would change too fast or leave (0, 1), the electrode
        potential would jump, or Newton does not settle."""
        s = self.solid
        sub, diag, sup, cap = s.matrix(dt_s)
        x, j, phi = s.x, self.shell_current_a, self.phi_v
        kinetics = self._kinetics(phi, x, j)
        settled = False
        for _ in range(self.NEWTON_ITERATIONS):
            x, j, phi, limited = self._newton(dt_s, current_a, voltage_v, x, j, phi, kinetics, sub, diag, sup, cap)
            if x.max() >= 1.0 or x.min() <= 0.0:
                break
            # The kinetics at the new state: the residual check, and the next iteration's linearisation.
            kinetics = self._kinetics(phi, x, j)
            bv, g_phi, _ = kinetics
            error_v = np.abs(bv - j) / np.maximum(g_phi, 1e-300)
            if np.max(np.where(g_phi > 0, error_v, 0.0)) < self.NEWTON_TOLERANCE_V:
                settled = True
                break
        too_fast = (not settled or np.max(np.abs(x - s.x)) > self.MAX_SHELL_CHANGE
                    or x.max() >= 1.0 or x.min() <= 0.0 or limited)
        if too_fast and depth < 8:
            self._advance(dt_s / 2, current_a, voltage_v, depth + 1)
            return self._advance(dt_s / 2, current_a, voltage_v, depth + 1)
        s.x = x
        self.shell_current_a = j
        self.particle_current_a = j.sum(axis=1)
        # Galvanostatic: the particle currents add up to the imposed current (to rounding).
        total = (float(current_a) if voltage_v is None and not limited
                 else float(np.dot(self.counts, self.particle_current_a)))
        self.phi_v = phi
        self.electrolyte.step(self.particle_current_a[self.imaged], dt_s)
        rd = self.reading
        rd.time_s += dt_s
        rd.current_a = total
        rd.charge_c += total * dt_s
        rd.voltage_v = self.phi_v + total * self.series_resistance_ohm
        return total

    def snapshot(self):
        """Everything a step changes, to undo it (used to land on voltage cut-offs)."""
        r = self.reading
        return (self.solid.x.copy(), self.phi_v, self.shell_current_a.copy(), self.electrolyte.excess.copy(),
                CellReading(r.time_s, r.current_a, r.voltage_v, r.charge_c))

    def restore(self, snap) -> None:
        x, self.phi_v, currents, excess, reading = snap
        self.solid.x = x.copy()
        self.electrolyte.excess = excess.copy()
        self.shell_current_a = currents.copy()
        self.particle_current_a = currents.sum(axis=1)
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

    def packed_state(self):
        """What the potentiostat publishes for the imaging IOCs (ioc.cell.state)."""
        from .state import halfcell_state

        return halfcell_state(self)

    # --- what the microscope sees --------------------------------------------------------
    def mean_x(self) -> np.ndarray:
        return self.solid.mean_x()

    def electrode_x(self) -> float:
        """Lithium fraction of the whole electrode (active particles and their representatives)."""
        sites = np.sum(self.solid.volumes_m3, axis=1)
        w = self.counts * sites * (self.i0_scale > 0)
        return float(np.dot(w, self.mean_x()) / w.sum())

    def volume_change(self) -> np.ndarray:
        """Delta V / V of every simulated agglomerate relative to its pristine state."""
        m = self.material
        return self.volume_factor * (m.volume_change(self.mean_x()) - m.volume_change(m.x_pristine))
