"""Solid and liquid together: 1020 nm pulsed excitation, reflection and 2PEF in one stack (seed 000, Fig. 6)."""
from __future__ import annotations

from operando.devices.laser import WAVELENGTH_RANGE_NM

from .validation import check_number
from .zstack import zstack

TPEF_MIN_WAVELENGTH_NM = 900.0      # below this LiPF6's two-photon fluorescence vanishes (seed 000)


def electrolyte_stack(scope, z_start_um, z_stop_um, z_step_um, *, wavelength_nm=1020.0, power_w=20e-3,
                      pixel_dwell_s=10e-6, pixels=(256, 256), pixel_size_um=0.1, md=None):
    """A z-stack with mode-locked excitation at wavelength_nm (900-1080 nm) and both APDs:
    particle reflection and electrolyte two-photon fluorescence (quadratic in power_w, W).
    Objective positions in um; see zstack for the rest."""
    wavelength_nm = check_number("wavelength_nm", wavelength_nm, TPEF_MIN_WAVELENGTH_NM, WAVELENGTH_RANGE_NM[1], "nm")
    _md = {"plan_name": "electrolyte_stack"}
    _md.update(md or {})
    return (yield from zstack(scope, z_start_um, z_stop_um, z_step_um, channels=("reflection", "fluorescence"),
                              pixel_dwell_s=pixel_dwell_s, pixels=pixels, pixel_size_um=pixel_size_um,
                              wavelength_nm=wavelength_nm, power_w=power_w, pulsed=True, md=_md))
