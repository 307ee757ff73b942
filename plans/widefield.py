"""Widefield scattering plans (seed 004): free-running camera time series, with or without the
potentiostat cycling the cell, and a voltage hold before cycling."""
from __future__ import annotations

import getpass
from dataclasses import asdict, dataclass

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from operando.devices.widefield import BINNING_RANGE, EXPOSURE_RANGE_S, MAX_FRAME_RATE_HZ, SENSOR_PIXELS as SENSOR

from .cycling import cell_limits, cell_settings, during_protocol, monitor_while_running, run_protocol
from .metadata import SIMULATED_NWO_SAMPLE, start_metadata
from .protocol import parse_protocol, to_technique
from .validation import PlanParameterError, check_integer, check_number

STREAM = "widefield"


@dataclass(frozen=True)
class CameraSettings:
    """A validated camera request: exposure (s), raw frame rate (Hz), binning, raw frames averaged
    per stored frame, ROI (min_x, min_y, size_x, size_y; unbinned pixels), LED power (W)."""
    exposure_s: float
    frame_rate_hz: float
    binning: int
    temporal_binning: int
    roi: tuple[int, int, int, int]
    led_power_w: float

    @property
    def stored_rate_hz(self) -> float:
        return self.frame_rate_hz / self.temporal_binning


def validate_camera(exposure_s, frame_rate_hz, binning, temporal_binning, roi, led_power_w,
                    max_rate_hz: float = MAX_FRAME_RATE_HZ) -> CameraSettings:
    """Check every camera parameter (nothing touched)."""
    frame_rate_hz = check_number("frame_rate_hz", frame_rate_hz, 0.01, max_rate_hz, "Hz")
    exposure_s = check_number("exposure_s", exposure_s, EXPOSURE_RANGE_S[0],
                              min(EXPOSURE_RANGE_S[1], 1.0 / frame_rate_hz), "s")
    binning = check_integer("binning", binning, *BINNING_RANGE)
    temporal_binning = check_integer("temporal_binning", temporal_binning, 1, 1000)
    if roi is None:
        roi = (0, 0, *SENSOR)
    if not isinstance(roi, (tuple, list)) or len(roi) != 4:
        raise PlanParameterError(f"roi must be (min_x, min_y, size_x, size_y) in unbinned pixels, got {roi!r}")
    min_x = check_integer("roi[0] (min_x)", roi[0], 0, SENSOR[0] - 16)
    min_y = check_integer("roi[1] (min_y)", roi[1], 0, SENSOR[1] - 16)
    size_x = check_integer("roi[2] (size_x)", roi[2], 16, SENSOR[0] - min_x)
    size_y = check_integer("roi[3] (size_y)", roi[3], 16, SENSOR[1] - min_y)
    led_power_w = check_number("led_power_w", led_power_w, 0.0, 1.6, "W")
    return CameraSettings(exposure_s, frame_rate_hz, binning, temporal_binning, (min_x, min_y, size_x, size_y),
                          led_power_w)


def configure_camera(scope, s: CameraSettings, num_images: int):
    """Set the camera, LED and focus lock for ``s`` (a plan)."""
    cam = scope.camera
    min_x, min_y, size_x, size_y = s.roi
    yield from bps.mv(cam.binning, s.binning, cam.min_x, min_x, cam.min_y, min_y, cam.size_x, size_x,
                      cam.size_y, size_y, cam.exposure_s, s.exposure_s, cam.period_s, 1.0 / s.frame_rate_hz,
                      cam.num_filter, s.temporal_binning, cam.num_images, num_images,
                      scope.led.power_w, s.led_power_w)


def _metadata(plan_name, scope, s: CameraSettings, *, sample, operator, protocol=None, technique=None,
              extra=None, md=None):
    acquisition = {"detectors": [scope.camera.name], "camera": asdict(s), "stream": STREAM,
                   "pixel_size_um": scope.optics["sensor_pixel_um"] / scope.optics["magnification"] * s.binning,
                   "optics": dict(scope.optics)}
    _md = start_metadata(plan_name, sample=sample or SIMULATED_NWO_SAMPLE,
                         operator=operator if operator is not None else getpass.getuser(),
                         protocol=protocol, technique=technique,
                         instrument={"optics": dict(scope.optics)}, extra={**acquisition, **(extra or {})})
    _md.update(md or {})
    return _md


def _illuminate(scope, focus_lock: bool):
    yield from bps.mv(scope.led.output, "On")
    if focus_lock:
        yield from bps.mv(scope.focus.lock, "On")


def widefield_timeseries(scope, *, num_frames=100, frame_rate_hz=2.0, exposure_s=0.008, binning=2,
                         temporal_binning=1, roi=None, led_power_w=0.8, focus_lock=True, collect_every_s=1.0,
                         sample=None, operator=None, md=None):
    """A time series of ``num_frames`` stored frames from the free-running camera.

    frame_rate_hz: raw frames per second (<= 100 Hz); exposure_s (s, <= the frame period);
    binning 1-4 (on the sensor); temporal_binning: raw frames averaged per stored frame; roi:
    (min_x, min_y, size_x, size_y) unbinned pixels; led_power_w (W). Frames land in the "widefield"
    stream (image, frame number, time stamp, cell time, exposure) as the camera writes them,
    collected every ``collect_every_s`` (s). LED off and camera stopped however it ends.
    """
    s = validate_camera(exposure_s, frame_rate_hz, binning, temporal_binning, roi, led_power_w)
    num_frames = check_integer("num_frames", num_frames, 1, 10_000_000)
    collect_every_s = check_number("collect_every_s", collect_every_s, 0.05, 3600.0, "s")
    _md = _metadata("widefield_timeseries", scope, s, sample=sample, operator=operator,
                    extra={"num_frames": num_frames}, md=md)
    cam = scope.camera

    @bpp.stage_decorator([scope.led, cam])
    @bpp.run_decorator(md=_md)
    def _run():
        yield from _illuminate(scope, focus_lock)
        yield from bps.declare_stream(cam, name=STREAM, collect=True)
        yield from bps.kickoff(cam, wait=True)
        done = yield from bps.complete(cam, wait=False)
        while not done.done:
            yield from bps.sleep(collect_every_s)
            yield from bps.collect(cam, name=STREAM)
        yield from bps.wait(group=None)
        yield from bps.collect(cam, name=STREAM)
        yield from bps.mv(scope.led.output, "Off")

    yield from configure_camera(scope, s, num_frames)
    return (yield from _run())


def cycling_widefield(scope, pstat, protocol: str, *, frame_rate_hz=2.0, exposure_s=0.008, binning=2,
                      temporal_binning=1, roi=None, led_power_w=0.8, focus_lock=True, collect_every_s=1.0,
                      max_cycles=None, max_cell_time_s=None, accel=None, sample_rate_hz=None, sample=None,
                      operator=None, md=None):
    """Cycle the cell with ``protocol`` while the camera records frames (<= 10 Hz raw), each tagged
    with the cell time it was exposed at.

    protocol: PyBaMM-style text (plans.protocol); camera parameters as widefield_timeseries;
    accel: cell s per wall s (simulator); sample_rate_hz: telemetry rate. Streams: "widefield"
    (frames), "potentiostat" (every telemetry sample), "pstat_voltage_v_monitor". Stops at the
    protocol's end (or max_cycles / max_cell_time_s, s); the cell at open circuit, the camera
    stopped and the LED off however it ends. Everything is checked before the first message.
    """
    technique = to_technique(parse_protocol(protocol), cell_limits(pstat))
    s = validate_camera(exposure_s, frame_rate_hz, binning, temporal_binning, roi, led_power_w, max_rate_hz=10.0)
    collect_every_s = check_number("collect_every_s", collect_every_s, 0.05, 3600.0, "s")
    if max_cycles is not None:
        max_cycles = check_integer("max_cycles", max_cycles, 1, 100000)
    if max_cell_time_s is not None:
        max_cell_time_s = check_number("max_cell_time_s", max_cell_time_s, 1.0, 1e8, "s")
    settings = cell_settings(pstat, accel, sample_rate_hz)
    _md = _metadata("cycling_widefield", scope, s, sample=sample, operator=operator, protocol=protocol,
                    technique=technique, md=md,
                    extra={"accel": accel, "sample_rate_hz": sample_rate_hz, "max_cycles": max_cycles,
                           "max_cell_time_s": max_cell_time_s, "detectors": [scope.camera.name, pstat.name]})
    cam = scope.camera

    def one_round(done):
        yield from bps.sleep(collect_every_s)
        yield from bps.collect(cam, name=STREAM)
        return True

    @bpp.stage_decorator([pstat, scope.led, cam])
    @bpp.run_decorator(md=_md)
    def _run():
        yield from monitor_while_running([pstat.voltage_v])
        yield from _illuminate(scope, focus_lock)
        yield from bps.declare_stream(cam, name=STREAM, collect=True)
        yield from bps.kickoff(cam, wait=True)
        yield from during_protocol(pstat, technique, one_round, settings=settings, max_cycles=max_cycles,
                                   max_cell_time_s=max_cell_time_s)
        yield from bps.mv(cam.acquire, 0)
        yield from bps.complete(cam, wait=True)
        yield from bps.collect(cam, name=STREAM)
        yield from bps.mv(scope.led.output, "Off")

    yield from configure_camera(scope, s, 0)
    return (yield from _run())


def voltage_hold(pstat, voltage_v: float, duration_s: float, *, accel=None, sample_rate_hz=None, md=None):
    """Hold the cell at ``voltage_v`` (V) for ``duration_s`` (s), e.g. 2.8 V before an NWO cycle so
    that every cycle starts from the same lithium content (seed 004); telemetry in "potentiostat"."""
    limits = cell_limits(pstat)
    voltage_v = check_number("voltage_v", voltage_v, limits.min_voltage_v, limits.max_voltage_v, "V")
    duration_s = check_number("duration_s", duration_s, 1.0, 1e6, "s")
    _md = {"plan_name": "voltage_hold", "hold_voltage_v": voltage_v, "hold_duration_s": duration_s}
    _md.update(md or {})
    return (yield from run_protocol(pstat, f"Hold at {voltage_v:g} V for {duration_s:g} seconds", accel=accel,
                                    sample_rate_hz=sample_rate_hz, md=_md))
