"""An NWO half cell (rods vs Li metal): lithium diffuses along each rod's c-axis with D(x) and
enters or leaves only through its active faces.

Every rod is a line of nodes (finite volumes) along c; the imaged rods at 0.1 um, the bulk
population (representative rods, each standing for many, which carries the rest of the
electrode's mass and so sets the potential) at 0.25 um. All rods sit at one electrode potential
phi; each active face takes a Butler-Volmer current. Each step is linearly implicit in x (D from
the start of the step) and solves the current (or voltage) constraint with it, as one banded
system over all nodes; Newton on the kinetics. Lithium is conserved to rounding.

Cracks (imaged rods): when, during delithiation, the c-strain across one rod width exceeds
CRACK_STRAIN (times its toughness), a crack starts at the steepest place (at most one per rod and
delithiation; none within one width of a free face) and crosses the rod at CRACK_SPEED_M_S; its
faces take current in proportion to how far it has run and stop exchanging lithium through the
solid. A fragment away from the rod's carbon contact loses its electronic path when the crack
gap opens past GAP_DISCONNECT_UM (its lithium stays). Sign convention (Battery Data Format):
charging current positive = delithiation of the NWO (voltage rises).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import solve_banded

from . import nwo
from .halfcell import K_BV, CellReading, constrained_potential
from .intercalation import FARADAY_C_MOL
from .rods import RodElectrode

I0_REF_A_M2 = 25.0            # exchange current density at x = 0.5 on an active face (A/m^2)
CRACK_STRAIN = 0.0060         # c-strain difference across one rod width that starts a crack
                              # (times the rod's toughness)
CRACK_SPEED_M_S = 190e-9      # crack propagation across the rod (seed Fig. 4f: 187 +- 4 nm/s)
GAP_DISCONNECT_UM = 0.3       # crack opening that breaks the electronic path between fragments
IMAGED_NODE_UM = 0.1
STEP_C_RATE_S = 0.25          # longest step under current, times 1 / C-rate (s)
MAX_REST_STEP_S = 10.0        # at open circuit (implicit: stable; relaxation is slow)
MAX_HOLD_STEP_S = 0.05        # under a voltage hold (the current can be large at its start)
BULK_NODE_UM = 0.25


@dataclass
class Crack:
    """A crack between nodes ``face`` and ``face + 1`` of an imaged rod (flat node index)."""
    rod: int
    face: int
    position_um: float          # from end 0 along the pristine rod
    start_time_s: float
    progress: float = 0.0       # fraction of the width crossed
    complete_time_s: float = float("nan")
    length_at_complete_um: float = float("nan")
    gap_um: float = 0.0


@dataclass
class RodMaterial:
    """What the potentiostat reads from a cell: its voltage window (V)."""
    name: str = "NWO"
    voltage_window_v: tuple[float, float] = nwo.VOLTAGE_WINDOW_V


def exchange_factor(x) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=float), 1e-6, 1 - 1e-6)
    return np.sqrt(x * (1.0 - x)) / 0.5


@dataclass
class _Nodes:
    rod: np.ndarray            # rod index of every node
    dl_m: np.ndarray           # node length (m)
    first: np.ndarray          # first node of every rod
    last: np.ndarray           # last node of every rod
    links: np.ndarray = field(default=None)   # 1 between consecutive nodes of one rod, else 0


class RodCell:
    """Imaged rods (RodElectrode) plus a bulk population; deterministic for a given seed."""

    def __init__(self, electrode: RodElectrode, active_mass_kg: float = 1e-6, series_resistance_ohm: float = 15.0,
                 n_bulk: int = 10, seed: int = 0, x0: float = 0.08):
        rng = np.random.default_rng(seed)
        self.material = RodMaterial()
        self.electrode = electrode
        self.series_resistance_ohm = series_resistance_ohm
        self.active_mass_kg = active_mass_kg
        imaged = list(electrode.rods)
        lengths = [r.length_um for r in imaged] + list(rng.uniform(8.0, 20.0, n_bulk))
        widths = [r.width_um for r in imaged] + list(rng.uniform(2.5, 4.0, n_bulk))
        ends = [r.end_active for r in imaged] + [(True, bool(rng.random() > 0.3)) for _ in range(n_bulk)]
        i0 = [r.i0_scale for r in imaged] + list(rng.lognormal(0.0, 0.4, n_bulk))
        self.n_imaged = len(imaged)
        self.labels = np.array([r.label for r in imaged] + [-(k + 1) for k in range(n_bulk)])
        self.length_m = np.array(lengths) * 1e-6
        self.area_m2 = (np.array(widths) * 1e-6) ** 2           # square cross-section (seed: 3.5 x 3.5 um)
        self.width_m = np.array(widths) * 1e-6
        self.i0_scale = np.array(i0)
        self.toughness = np.array([r.toughness for r in imaged])
        self.crack_armed = np.ones(len(imaged), dtype=bool)
        n_nodes = [max(int(round(L / (IMAGED_NODE_UM if k < self.n_imaged else BULK_NODE_UM))), 8)
                   for k, L in enumerate(lengths)]
        rod = np.repeat(np.arange(len(lengths)), n_nodes)
        first = np.concatenate([[0], np.cumsum(n_nodes)[:-1]])
        last = first + np.array(n_nodes) - 1
        self.nodes = _Nodes(rod, self.length_m[rod] / np.array(n_nodes)[rod], first, last)
        self.nodes.links = (rod[1:] == rod[:-1]).astype(float)
        self.contact = np.array([first[k] + int(round(r.contact_fraction * (n_nodes[k] - 1)))
                                 for k, r in enumerate(imaged)])
        # Active face area per node (fraction of the cross-section) from the rod ends.
        self.end_area = np.zeros(rod.size)
        for k, (a0, a1) in enumerate(ends):
            self.end_area[first[k]] += float(a0)
            self.end_area[last[k]] += float(a1)
        mass = self.length_m * self.area_m2 * nwo.DENSITY_KG_M3
        imaged_mass = mass[:self.n_imaged].sum()
        bulk_count = max(active_mass_kg - imaged_mass, 0.0) / mass[self.n_imaged:].sum()
        self.counts = np.where(np.arange(len(lengths)) < self.n_imaged, 1.0, bulk_count)
        self.x = np.full(rod.size, float(x0))
        self.connected = np.ones(rod.size, dtype=bool)
        self.cracks: list[Crack] = []
        self.open = np.zeros(rod.size - 1)         # crack progress at each face between nodes
        self.cracked = np.zeros(rod.size - 1, dtype=bool)
        self.rod_current_a = np.zeros(len(lengths))
        self.reading = CellReading()
        self.phi_v = self._equilibrium_phi()
        self.reading.voltage_v = self.phi_v

    # --- properties -----------------------------------------------------------------------
    @property
    def capacity_ah(self) -> float:
        """Nominal capacity (A h) that defines 1C (178 mAh/g)."""
        return self.active_mass_kg * nwo.SPECIFIC_CAPACITY_AH_KG

    def _node_volume_m3(self) -> np.ndarray:
        return self.nodes.dl_m * self.area_m2[self.nodes.rod]

    def lithium_mol(self) -> float:
        w = self._node_volume_m3() * self.counts[self.nodes.rod]
        return float(np.dot(w, self.x) * nwo.C_MAX_MOL_M3)

    def face_area(self) -> np.ndarray:
        """Active surface of every node as a fraction of its rod's cross-section: rod ends,
        crack faces (as far as the crack has run); none in disconnected fragments."""
        a = self.end_area.copy()
        a[:-1] += self.open
        a[1:] += self.open
        return np.where(self.connected, a, 0.0)

    def rod_mean_x(self) -> np.ndarray:
        """Mean lithium fraction of every rod."""
        v = self._node_volume_m3()
        return np.bincount(self.nodes.rod, v * self.x) / np.bincount(self.nodes.rod, v)

    def electrode_x(self) -> float:
        """Lithium fraction of the electrode (connected material)."""
        w = self._node_volume_m3() * self.counts[self.nodes.rod] * self.connected
        return float(np.dot(w, self.x) / w.sum())

    # --- kinetics -------------------------------------------------------------------------
    def _kinetics(self, phi: float, x: np.ndarray):
        """Per node: face current density (A/m^2, charging positive) and its d/dphi and d/dx."""
        u = nwo.ocp_v(x)
        du_dx = (nwo.ocp_v(x + 1e-5) - nwo.ocp_v(x - 1e-5)) / 2e-5
        i0 = I0_REF_A_M2 * self.i0_scale[self.nodes.rod] * exchange_factor(x)
        arg = np.clip(K_BV * (phi - u), -40.0, 40.0)
        g_phi = 2.0 * i0 * K_BV * np.cosh(arg)
        return 2.0 * i0 * np.sinh(arg), g_phi, -g_phi * du_dx

    def _equilibrium_phi(self) -> float:
        a = self.face_area() > 0
        return float(np.median(nwo.ocp_v(self.x[a]))) if a.any() else float(nwo.ocp_v(self.x.mean()))

    # --- stepping -------------------------------------------------------------------------
    MAX_NODE_CHANGE = 0.03
    # The potentiostat's technique runner may hand this cell steps of up to 10 s (it subdivides
    # them itself, by C-rate): cut-offs are still met by the runner's undo-and-retry.
    TECHNIQUE_SUBSTEP_S = 10.0
    MAX_POTENTIAL_CHANGE_V = 0.5
    NEWTON_TOLERANCE_V = 5e-4
    NEWTON_ITERATIONS = 6

    def _solve(self, dt_s, current_a, voltage_v, kinetics, x_it, phi_it, area):
        """One Newton iteration about (x_it, phi_it): new (x, phi, face current density A/m^2 as
        linearised, limited)."""
        n = self.nodes
        fc = FARADAY_C_MOL * nwo.C_MAX_MOL_M3
        bv, g_phi, g_x = kinetics
        xm = 0.5 * (self.x[1:] + self.x[:-1])
        dl_face = 0.5 * (n.dl_m[1:] + n.dl_m[:-1])
        g = nwo.diffusivity_m2_s(xm) / dl_face * n.links * (1.0 - self.open)      # m/s
        cap = n.dl_m / dt_s
        diag = cap + area * g_x / fc
        diag[:-1] += g
        diag[1:] += g
        ab = np.zeros((3, diag.size))
        ab[0, 1:] = -g
        ab[1] = diag
        ab[2, :-1] = -g
        rhs = np.empty((diag.size, 2))
        rhs[:, 0] = cap * self.x - area * (bv - g_x * x_it) / fc
        rhs[:, 1] = -area * g_phi / fc
        sol = solve_banded((1, 1), ab, rhs, check_finite=False)
        y, z = sol[:, 0], sol[:, 1]
        weight = self.area_m2[n.rod] * self.counts[n.rod] * area
        s0 = float(np.dot(weight, bv + g_x * (y - x_it)))
        s1 = float(np.dot(weight, g_phi + g_x * z))
        phi, limited = constrained_potential(phi_it, self.phi_v, s0, s1, current_a, voltage_v,
                                             self.series_resistance_ohm, self.MAX_POTENTIAL_CHANGE_V)
        x = y + (phi - phi_it) * z
        return x, phi, bv + g_phi * (phi - phi_it) + g_x * (x - x_it), limited

    def _advance(self, dt_s: float, current_a=None, voltage_v=None, depth: int = 0) -> float:
        area = self.face_area()
        x, phi = self.x, self.phi_v
        kinetics = self._kinetics(phi, x)
        settled = limited = False
        for _ in range(self.NEWTON_ITERATIONS):
            x, phi, j, limited = self._solve(dt_s, current_a, voltage_v, kinetics, x, phi, area)
            if x.max() >= 1.0 or x.min() <= 0.0:
                break
            kinetics = self._kinetics(phi, x)
            bv, g_phi, _ = kinetics
            error_v = np.where(area > 0, np.abs(bv - j) / np.maximum(g_phi, 1e-300), 0.0)
            if error_v.max() < self.NEWTON_TOLERANCE_V:
                settled = True
                break
        too_fast = (not settled or np.max(np.abs(x - self.x)) > self.MAX_NODE_CHANGE
                    or x.max() >= 1.0 or x.min() <= 0.0 or limited)
        if too_fast and depth < 10:
            self._advance(dt_s / 2, current_a, voltage_v, depth + 1)
            return self._advance(dt_s / 2, current_a, voltage_v, depth + 1)
        rod = self.nodes.rod
        self.x = x
        self.phi_v = phi
        self.rod_current_a = np.bincount(rod, self.area_m2[rod] * area * j, minlength=self.length_m.size)
        total = (float(current_a) if voltage_v is None and not limited
                 else float(np.dot(self.counts, self.rod_current_a)))
        rd = self.reading
        rd.time_s += dt_s
        rd.current_a = total
        rd.charge_c += total * dt_s
        rd.voltage_v = self.phi_v + total * self.series_resistance_ohm
        self._grow_cracks(dt_s)
        return total

    # --- cracks ---------------------------------------------------------------------------
    def strain_step(self, rod: int) -> tuple[float, int]:
        """Largest c-strain difference across one rod width inside one fragment of ``rod``, away
        from its free faces (within one width of a rod end or crack the lattice relaxes), and
        the face (flat index) where it is steepest; (0, -1) if none."""
        n = self.nodes
        lo, hi = n.first[rod], n.last[rod] + 1
        eps = nwo.c_expansion(self.x[lo:hi])
        width = max(int(round(self.width_m[rod] / n.dl_m[lo])), 2)
        half = width // 2
        m = eps.size
        # Distance (in nodes) of every face k (between nodes k and k + 1) to the nearest free face.
        free = np.concatenate([[-1], np.nonzero(self.cracked[lo:hi - 1])[0], [m - 1]])
        faces = np.arange(m - 1)
        nearest = np.min(np.abs(faces[:, None] - free[None, :]), axis=1)
        lo_k = np.clip(faces - half + 1, 0, m - 1)
        hi_k = np.clip(faces + half, 0, m - 1)
        diff = np.abs(eps[hi_k] - eps[lo_k])
        diff = np.where(nearest >= width, diff, 0.0)
        if not diff.any():
            return 0.0, -1
        k = int(np.argmax(diff))
        return float(diff[k]), lo + k

    def _grow_cracks(self, dt_s: float) -> None:
        for c in self.cracks:
            if c.progress < 1.0:
                c.progress = min(1.0, c.progress + CRACK_SPEED_M_S * dt_s / self.width_m[c.rod])
                self.open[c.face] = c.progress
                if c.progress >= 1.0:
                    c.complete_time_s = self.reading.time_s
                    c.length_at_complete_um = self.rod_length_um(c.rod, with_gaps=False)
            elif np.isfinite(c.length_at_complete_um):
                c.gap_um = max(0.0, c.length_at_complete_um - self.rod_length_um(c.rod, with_gaps=False))
                if c.gap_um > GAP_DISCONNECT_UM:
                    self._disconnect_far_fragment(c)
        for rod in range(self.n_imaged):
            if self.rod_current_a[rod] < 0.0:
                self.crack_armed[rod] = True             # re-armed by the next lithiation
            if self.rod_current_a[rod] <= 0.0 or not self.crack_armed[rod]:
                continue                                 # cracks open on delithiation only, one per rod each time
            step, face = self.strain_step(rod)
            if face >= 0 and step > CRACK_STRAIN * self.toughness[rod]:
                self.cracked[face] = True
                self.crack_armed[rod] = False
                lo = self.nodes.first[rod]
                pos = float((face - lo + 1) * self.nodes.dl_m[lo] * 1e6)
                self.cracks.append(Crack(rod, face, pos, self.reading.time_s))

    def _disconnect_far_fragment(self, crack: Crack) -> None:
        n = self.nodes
        lo, hi = n.first[crack.rod], n.last[crack.rod] + 1
        contact = self.contact[crack.rod]
        side = np.arange(lo, hi) > crack.face
        far = side != (contact > crack.face)
        # The far fragment reaches to the next crack on its side (or the rod's end).
        idx = np.arange(lo, hi)
        other = [c.face for c in self.cracks if c.rod == crack.rod and c is not crack]
        if contact > crack.face:
            stop = max([f for f in other if f < crack.face], default=lo - 1)
            far &= idx > stop
        else:
            stop = min([f for f in other if f > crack.face], default=hi)
            far &= idx <= stop
        self.connected[idx[far]] = False

    # --- what the microscope sees ----------------------------------------------------------
    def rod_x(self, rod: int) -> np.ndarray:
        n = self.nodes
        return self.x[n.first[rod]:n.last[rod] + 1]

    def rod_length_um(self, rod: int, with_gaps: bool = True) -> float:
        """End-to-end length (um): nodes stretched by their c-strain relative to x = 0.08 (the
        pristine geometry is given at that state), plus open crack gaps."""
        from .rod_state import node_lengths_um

        length = float(node_lengths_um(self.rod_x(rod), self.length_m[rod] * 1e6).sum())
        if with_gaps:
            length += sum(c.gap_um for c in self.cracks if c.rod == rod)
        return length

    # --- undo / step API (same as HalfCell) ----------------------------------------------------
    def snapshot(self):
        r = self.reading
        return (self.x.copy(), self.phi_v, self.connected.copy(), self.open.copy(), self.cracked.copy(),
                self.crack_armed.copy(),
                [Crack(**vars(c)) for c in self.cracks], CellReading(r.time_s, r.current_a, r.voltage_v, r.charge_c))

    def restore(self, snap) -> None:
        x, self.phi_v, connected, opened, cracked, armed, cracks, reading = snap
        self.crack_armed = armed.copy()
        self.x, self.connected, self.open, self.cracked = x.copy(), connected.copy(), opened.copy(), cracked.copy()
        self.cracks = [Crack(**vars(c)) for c in cracks]
        self.reading = CellReading(reading.time_s, reading.current_a, reading.voltage_v, reading.charge_c)

    def _substeps(self, dt_s: float, limit_s: float):
        n = max(1, int(np.ceil(dt_s / limit_s - 1e-9)))
        return [dt_s / n] * n

    def step_current(self, current_a: float, dt_s: float) -> float:
        """Pass current_a (A, charging positive) for dt_s (s); returns the cell voltage (V). Steps of
        at most STEP_C_RATE_S / C-rate (0.05 s at 5C: front velocities converge within 2 %)."""
        c_rate = abs(current_a) / self.capacity_ah
        limit = min(STEP_C_RATE_S / c_rate, MAX_REST_STEP_S) if c_rate > 0 else MAX_REST_STEP_S
        for dt in self._substeps(dt_s, limit):
            self._advance(dt, current_a=current_a)
        return self.reading.voltage_v

    def step_voltage(self, voltage_v: float, dt_s: float) -> float:
        """Hold voltage_v (V) for dt_s (s); returns the current (A)."""
        for dt in self._substeps(dt_s, MAX_HOLD_STEP_S):
            current = self._advance(dt, voltage_v=voltage_v)
        return current

    def rest(self, dt_s: float) -> float:
        return self.step_current(0.0, dt_s)

    def packed_state(self):
        from .rod_state import rodcell_state

        return rodcell_state(self)
