"""Each simulated part behaves like the hardware it stands for (real IOC processes)."""
import functools
import time

import h5py
import numpy as np
import pytest
from caproto.sync import client as ca_sync

from operando.plans import zstack

pytestmark = pytest.mark.integration


def read(pv, **kwargs):
    return ca_sync.read(pv, repeater=False, **kwargs)


def write(pv, value, **kwargs):
    return ca_sync.write(pv, value, repeater=False, **kwargs)


def _get(pv):
    return read(pv, timeout=5).data[0]


def test_piezo_moves_take_travel_plus_settle_time_and_respect_soft_limits(instrument):
    piezo = instrument["scope"].piezo
    piezo.move(10.0).wait(10)
    t0 = time.monotonic()
    piezo.move(60.0).wait(10)
    elapsed = time.monotonic() - t0
    velocity, settle = piezo.velocity_um_s.get(), piezo.settle_time_s.get()
    assert elapsed >= 50.0 / velocity + settle
    assert piezo.position == pytest.approx(60.0, abs=1e-6) and piezo.done.get(use_monitor=False) == 1
    for k in range(10):     # the readback is final (not on the way) whenever a move reports done
        piezo.move(60.0 - 0.4 * k).wait(10)
        assert piezo.position == pytest.approx(60.0 - 0.4 * k, abs=1e-6)
    piezo.move(60.0).wait(10)
    piezo.high_limit_um.set(50.0).wait(5)
    try:
        with pytest.raises(ValueError, match="limits"):
            piezo.move(55.0)                                   # refused by the device
        from caproto._utils import ErrorResponseReceived
        with pytest.raises(ErrorResponseReceived, match="soft limits"):
            write("OPR:PZ:Z", 55.0, notify=True, timeout=5)   # and by the controller
        assert _get("OPR:PZ:Z_RBV") == pytest.approx(60.0)
    finally:
        piezo.high_limit_um.set(100.0).wait(5)
        piezo.move(10.0).wait(10)


def test_a_move_ends_on_the_controllers_answer_without_dmov_updates(instrument):
    """DMOV's monitor updates withheld from the device (its subscription removed: an update lost
    under load): each move still ends, at its target, on the controller's put completion. Ended
    by DMOV's 0 -> 1 transition instead, these moves never ended (5-s timeout)."""
    piezo = instrument["scope"].piezo
    piezo.done.clear_sub(piezo._move_changed)
    try:
        for z in (10.0, 11.0, 11.5, 30.0, 10.0):
            piezo.move(z).wait(5)
            assert piezo.position == pytest.approx(z, abs=1e-6)
    finally:
        piezo.done.subscribe(piezo._move_changed, run=False)


def test_stop_ends_the_move_in_progress_and_the_next_move_reaches_its_target(instrument):
    """What a suspension does (RunEngine: stop(success=True) on what it moved, later the plan
    moves again): the stopped move's status ends at once with that success (left pending, the
    next move failed it and the RunEngine failed the resumed run); a move sent while the
    controller is still on the stopped one supersedes it and ends at its own target."""
    piezo = instrument["scope"].piezo
    piezo.move(10.0).wait(5)
    stopped = piezo.set(90.0)                  # 40 ms of travel at 2000 um/s
    time.sleep(0.005)
    piezo.stop(success=True)
    assert stopped.done and stopped.success
    piezo.set(12.0).wait(5)
    assert piezo.position == pytest.approx(12.0, abs=1e-6) and piezo.readback.get(use_monitor=False) == 12.0
    failed = piezo.set(60.0)
    time.sleep(0.005)
    piezo.stop()                               # a plain stop: the move did not get there
    assert failed.done and not failed.success
    piezo.move(10.0).wait(5)


def test_a_move_whose_position_read_times_out_is_read_again_or_fails_but_never_hangs(instrument, monkeypatch):
    """The controller answered the move but the position's CA get timed out (a host under full
    load; the controller still connected): read again, the move ends at its target; a position
    that stays unreadable fails the move instead of leaving it pending for ever."""
    from ophyd.signal import ReadTimeoutError

    piezo = instrument["scope"].piezo
    real_get, failures = piezo.readback.get, []

    def slow_get(*args, fail_times, **kwargs):
        if kwargs.get("use_monitor") is False and len(failures) < fail_times:
            failures.append(kwargs.get("timeout"))
            raise ReadTimeoutError("Failed to read OPR:PZ:Z_RBV within 2.00 sec")
        return real_get(*args, **kwargs)

    monkeypatch.setattr(piezo.readback, "get", functools.partial(slow_get, fail_times=2))
    piezo.move(11.0).wait(5)
    assert piezo.position == pytest.approx(11.0, abs=1e-6) and failures == [2.0, 2.0]
    failures.clear()
    monkeypatch.setattr(piezo.readback, "get", functools.partial(slow_get, fail_times=100))
    status = piezo.move(12.0)
    with pytest.raises(Exception):
        status.wait(5)
    assert status.done and not status.success and len(failures) == 5      # POSITION_READ_TRIES
    monkeypatch.undo()
    piezo.move(10.0).wait(5)


def test_hardware_sequenced_stack_steps_the_piezo_and_writes_every_plane(instrument, tmp_path):
    # Its own field and light (not whatever the test before left): 24 um across at (-8, -8) um, 2 us dwell,
    # 1 mW at 820 nm.
    for pv, value in (("STAGE:X:Val", -8.0), ("STAGE:Y:Val", -8.0), ("SCAN:PixelsX", 96), ("SCAN:PixelsY", 96), ("SCAN:PixelSize", 0.25), ("SCAN:Dwell", 2e-6),
                      ("SCAN:CenterX", 0.0), ("SCAN:CenterY", 0.0), ("LASER:Wavelength", 820.0),
                      ("LASER:Power", 1e-3)):
        write(f"OPR:{pv}", value, notify=True, timeout=30)
    write("OPR:APD:FilePath", str(tmp_path), notify=True, timeout=5)
    write("OPR:APD:FileName", "hw_stack.h5", notify=True, timeout=5)
    write("OPR:LASER:Shutter", 1, notify=True, timeout=5)
    write("OPR:APD:NumPlanes", 6, notify=True, timeout=5)
    write("OPR:APD:ZStart", 11.0, notify=True, timeout=5)
    write("OPR:APD:ZStep", 0.5, notify=True, timeout=5)
    try:
        write("OPR:APD:Acquire", 1, notify=True, timeout=60)
    finally:
        write("OPR:APD:NumPlanes", 1, notify=True, timeout=5)
        write("OPR:LASER:Shutter", 0, notify=True, timeout=5)
    assert _get("OPR:APD:ArrayCounter_RBV") == 6
    with h5py.File(tmp_path / "hw_stack.h5", "r") as f:
        frames = f["/entry/reflection/data"][()]
        z = f["/entry/instrument/z_um"][()]
    np.testing.assert_allclose(z, 11.0 + 0.5 * np.arange(6), atol=1e-6)
    assert frames.shape[0] == 6 and frames.dtype == np.uint16
    # Focus reaches the agglomerate tops in the last planes: mean counts/pixel measured 0.002 in the
    # first plane and 0.55-0.60 in the last three (~5,000 counts each: photon noise ~1.4 %). A single
    # pixel's maximum (21-31) was too noisy to bound.
    assert frames[0].mean() < 0.05
    assert all(f.mean() > 0.3 for f in frames[-3:])
    assert (tmp_path / "hw_stack.h5.truth.json").exists()


def test_realistic_timing_takes_the_frame_time(instrument, tmp_path):
    scope = instrument["scope"]
    write("OPR:APD:FilePath", str(tmp_path), notify=True, timeout=5)
    write("OPR:APD:FileName", "timed.h5", notify=True, timeout=5)
    old = (scope.scanner.pixels_x.get(), scope.scanner.pixels_y.get(), scope.scanner.pixel_dwell_s.get())
    scope.scanner.pixels_x.set(128).wait(5)
    scope.scanner.pixels_y.set(128).wait(5)
    scope.scanner.pixel_dwell_s.set(20e-6).wait(5)
    scope.apd.timing_mode.set("realistic").wait(5)
    try:
        frame_time = scope.scanner.frame_time_s.get(use_monitor=False)
        assert frame_time == pytest.approx(128 * (128 * 20e-6 + 2e-4))
        t0 = time.monotonic()
        write("OPR:APD:Acquire", 1, notify=True, timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        scope.apd.timing_mode.set("fast").wait(5)
        scope.scanner.pixels_x.set(old[0]).wait(5)
        scope.scanner.pixels_y.set(old[1]).wait(5)
        scope.scanner.pixel_dwell_s.set(old[2]).wait(5)
    assert frame_time <= elapsed < frame_time + 0.3


def test_a_frame_the_controller_could_not_write_fails_the_trigger_with_its_message(instrument, tmp_path):
    apd = instrument["scope"].apd
    apd.stage()
    try:
        blocker = tmp_path / "not_a_directory"
        blocker.write_text("x")
        write("OPR:APD:FilePath", str(blocker), notify=True, timeout=5)
        with pytest.raises(RuntimeError, match="no frame written"):
            apd.trigger().wait(30)
    finally:
        apd.unstage()


def test_unusable_data_directory_stops_the_plan_before_the_run_opens(instrument, tmp_path):
    scope, RE = instrument["scope"], instrument["RE"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    saved = scope.apd.data_directory
    scope.apd.data_directory = blocker / "sub"
    docs = []
    try:
        with pytest.raises((FileExistsError, NotADirectoryError, PermissionError)):
            RE(zstack(scope, 10, 11, 0.5, pixels=(64, 64)), lambda name, doc: docs.append(name))
    finally:
        scope.apd.data_directory = saved
    assert "start" not in docs
    assert scope.laser.shutter.get() == "Closed"
