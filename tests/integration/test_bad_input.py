"""Bad input, table-driven, on the running instrument: plans, protocols, scenario files, CLI
arguments and PV puts. Each is refused with a message naming what is wrong and what is allowed;
afterwards no device has moved (objective, laser, potentiostat), no run is in Tiled and no file
is in the data directory that was not there before."""
import math

import pytest
import yaml
from caproto.sync import client as ca

from operando.engine import cli
from operando.engine.processes import part_prefix
from operando.engine.scenario import ScenarioError, load_scenario, preflight
from operando.plans import (cycling_zstack, dark_frames, electrolyte_stack, gitt, multi_position, ocv_relax,
                            run_protocol, spectral_reflectivity, zstack)
from operando.plans.widefield import cycling_widefield, voltage_hold, widefield_timeseries

NAN, INF = float("nan"), float("inf")
AT = [{"name": "a1", "x_um": 0.0, "y_um": 0.0}]
STACK = dict(z_start_um=10, z_stop_um=11, z_step_um=0.5)
SAMPLE_WITHOUT_ELECTROLYTE = {"name": "S", "material": "LCO", "electrode": {}}
NOT_A_DEVICE = object()     # the widefield plans refuse before they touch their devices


def plan_cases():
    """(id, plan factory(scope, pstat), message pattern)."""
    return [
        ("z_stop beyond travel", lambda s, p: zstack(s, 10, 200, 0.5), r"z_stop_um=200.0 um is outside .*\[0"),
        ("zero z step", lambda s, p: zstack(s, 10, 20, 0), r"z_step_um"),
        ("NaN dwell", lambda s, p: zstack(s, 10, 20, 0.5, pixel_dwell_s=NAN), r"pixel_dwell_s=nan"),
        ("unknown channel", lambda s, p: zstack(s, 10, 20, 0.5, channels=("transmission",)), r"channels"),
        ("too few pixels", lambda s, p: zstack(s, 10, 20, 0.5, pixels=(8, 256)),
         r"pixels\[0\] \(nx\)=8 is outside the allowed range \[16, 2048\]"),
        ("negative power", lambda s, p: zstack(s, 10, 20, 0.5, power_w=-1e-3), r"power_w=-0.001 W is outside"),
        ("infinite power", lambda s, p: zstack(s, 10, 20, 0.5, power_w=INF), r"power_w=inf"),
        ("wavelength as text", lambda s, p: zstack(s, 10, 20, 0.5, wavelength_nm="820"),
         r"wavelength_nm must be a number in \[680"),
        ("no positions", lambda s, p: cycling_zstack(s, p, "Rest for 1 minute", [], **STACK), r"positions must be"),
        ("position off the stage", lambda s, p: cycling_zstack(
            s, p, "Rest for 1 minute", [{"name": "far", "x_um": 1e6, "y_um": 0}], **STACK),
         r"positions\[0\]\['x_um'\]=1000000.0 um is outside"),
        ("position named twice", lambda s, p: cycling_zstack(s, p, "Rest for 1 minute", AT + AT, **STACK),
         r"used twice"),
        ("negative interval", lambda s, p: cycling_zstack(s, p, "Rest for 1 minute", AT, interval_s=-5, **STACK),
         r"interval_s=-5.0 s is outside"),
        ("sample without electrolyte", lambda s, p: cycling_zstack(
            s, p, "Rest for 1 minute", AT, sample=SAMPLE_WITHOUT_ELECTROLYTE, **STACK), r"missing 'electrolyte'"),
        ("telemetry too fast", lambda s, p: run_protocol(p, "Rest for 1 minute", sample_rate_hz=5000),
         r"sample_rate_hz=5000.0 Hz is outside .*1000"),
        ("acceleration zero", lambda s, p: run_protocol(p, "Rest for 1 minute", accel=0), r"accel=0.0 is outside"),
        ("no GITT pulses", lambda s, p: gitt(s, p, AT, pulses=0), r"pulses=0 is outside the allowed range \[1, 1000\]"),
        ("GITT pulse not a current", lambda s, p: gitt(s, p, AT, pulse="Jump at C/10"), r"pulse must read like"),
        ("negative rest", lambda s, p: ocv_relax(p, -1), r"duration_s=-1.0 s is outside"),
        ("no wavelengths", lambda s, p: spectral_reflectivity(s, [], z_surface_um=10, z_interior_um=12),
         r"wavelengths_nm"),
        ("wavelength outside the laser", lambda s, p: spectral_reflectivity(s, [500], z_surface_um=10,
                                                                            z_interior_um=12),
         r"wavelengths_nm\[0\]=500.0 nm is outside"),
        ("unknown position key", lambda s, p: multi_position(s, [{"name": "a", "x_um": 0, "y_um": 0, "zz": 1}]),
         r"unknown keys \['zz'\]"),
        ("NaN step (electrolyte)", lambda s, p: electrolyte_stack(s, 10, 20, NAN), r"z_step_um"),
        ("no dark frames", lambda s, p: dark_frames(s, 0), r"n_frames=0 is outside"),
        ("camera beyond 100 Hz", lambda s, p: widefield_timeseries(NOT_A_DEVICE, frame_rate_hz=1000),
         r"frame_rate_hz=1000.0 Hz is outside"),
        ("ROI off the sensor", lambda s, p: widefield_timeseries(NOT_A_DEVICE, roi=(1800, 0, 256, 256)), r"roi"),
        ("exposure longer than the frame", lambda s, p: cycling_widefield(
            NOT_A_DEVICE, p, "Rest for 1 minute", frame_rate_hz=5, exposure_s=0.5), r"exposure_s"),
        ("hold outside the window", lambda s, p: voltage_hold(p, 9.0, 60), r"9.0 V|safe window"),
    ]


def protocol_cases():
    """Protocol text given to run_protocol on the session potentiostat (an LCO cell, 2.5-4.5 V)."""
    return [
        ("cut-off above the window", "Charge at C/2 until 4.8 V", r"safe window"),
        ("current beyond the instrument", "Charge at 1 A until 4.2 V", r"1 A is outside \(0, 0.6\] A"),
        ("negative duration", "Rest for -5 minutes", r"duration"),
        ("unclosed repeat", "Repeat 2 times {\nRest for 1 s", r"never closed"),
        ("empty protocol", "", r"no steps"),
        ("two voltage cut-offs", "Charge at C/2 until 4.2 V or 4.1 V", r"same kind"),
        ("not text", 42, r"protocol must be text"),
        ("oversized protocol", "Rest for 1 s\n" * 20000,
         r"technique of \d+ characters; the potentiostat holds at most 65536"),
    ]


def scenario_cases():
    """Scenario file contents (YAML), loaded and pre-flighted against the session's devices."""
    step = {"plan": "zstack", **STACK}
    return [
        ("unknown plan", {"name": "x", "steps": [{"plan": "tomography"}]}, r"unknown plan 'tomography'"),
        ("malformed YAML", "name: [x", r"not valid YAML"),
        ("negative seed", {"name": "x", "cell": {"seed": -1}, "steps": [step]}, r"cell.seed: an integer 0 to"),
        ("stack beyond travel", {"name": "x", "steps": [dict(step, z_stop_um=500)]},
         r"steps\[0\] \(zstack\): z_stop_um=500.0 um is outside"),
        ("empty file", "", r"a scenario is a mapping"),
        ("NaN drift", {"name": "x", "cell": {"drift_um_per_h": [NAN, 0, 0]}, "steps": [step]},
         r"drift_um_per_h"),
    ]


def cli_cases():
    return [
        ("negative limit", ["runs", "--limit", "-3"], r"--limit: a whole number of runs in \[1, 10000\]"),
        ("NaN C-rate", ["runs", "--c-rate", "nan"], r"--c-rate: a C-rate in \(0, 1000\]"),
        ("date in words", ["runs", "--since", "yesterday"], r"--since: a date as YYYY-MM-DD"),
        ("unknown export format", ["export", "abcdef", "--format", "xls"], r"invalid choice: 'xls'"),
        ("uid prefix too short", ["show", "ab"], r"uid or at least 5 characters of it"),
        ("missing scenario file", ["run", "--scenario", "/nonexistent/x.yaml", "--out", "OUT"], r"no file"),
        ("query without a value", ["analyze", "--query", "material"], r"--query: KEY=VALUE terms"),
        ("no analysis workers", ["analyze", "--query", "material=LCO", "--workers", "0"], r"--workers: processes in \[1, 64\]"),
        ("unknown worker analysis", ["worker", "--analysis", "volumes,colour"], r"--analysis: colour not known"),
        ("catalog not PostgreSQL", ["serve", "--catalog", "mysql://u:p@127.0.0.1/db"],
         r"--catalog: catalog must be postgresql://user:password@host:port/database"),
    ]


def pv_cases():
    """(id, part, PV suffix, value, pattern of the IOC's refusal)."""
    return [
        ("telemetry above 1 kHz", "potentiostat", "SampleRate", 5000.0, r"1000"),
        ("NaN telemetry rate", "potentiostat", "SampleRate", NAN, r"nan|NaN|finite"),
        ("negative acceleration", "potentiostat", "Accel", -1.0, r"1.0|limit"),
        ("zero watchdog", "potentiostat", "WatchdogTimeout", 0.0, r"0.2|limit"),
        ("objective beyond travel", "piezo", "Z", 500.0, r"100|limit"),
        ("infinite objective move", "piezo", "Z", INF, r"inf|finite|limit"),
        ("laser outside its tuning", "laser", "Wavelength", 2000.0, r"1080|limit"),
        ("negative laser power", "laser", "Power", -1.0, r"0.0|limit"),
    ]


def snapshot(instrument, pstat):
    """What must not change: device positions and states, runs in Tiled, files on disk."""
    config, scope = instrument["config"], instrument["scope"]
    instrument["writer"].flush()
    get = lambda sig: sig.get(use_monitor=False)   # noqa: E731
    return {
        "objective_um": round(get(scope.piezo.readback), 4),
        "laser_nm": get(scope.laser.wavelength_nm),
        "laser_w": get(scope.laser.power_w),
        "shutter": get(scope.laser.shutter),
        "pstat_state": get(pstat.state),
        "pstat_runs": int(get(pstat.run_start_seq)),
        "pstat_rate_hz": get(pstat.sample_rate_hz),
        "pstat_accel": get(pstat.accel),
        "runs_in_tiled": len(instrument["client"]["raw"]),
        "files": sorted(str(p) for p in config.data_dir.rglob("*") if p.is_file()),
        "scan_id": instrument["RE"].md.get("scan_id"),
    }


@pytest.fixture(scope="module")
def before(instrument, pstat):
    return snapshot(instrument, pstat)


def refused_plan(instrument, factory, pstat):
    from bluesky.utils import RunEngineInterrupted

    with pytest.raises(Exception) as info:
        instrument["RE"](factory(instrument["scope"], pstat))
    assert not isinstance(info.value, RunEngineInterrupted)
    return str(info.value)


@pytest.mark.parametrize("case", plan_cases(), ids=lambda c: c[0])
def test_plan_parameters(instrument, pstat, before, case):
    _, factory, pattern = case
    message = refused_plan(instrument, factory, pstat)
    assert_refused(message, pattern, instrument, pstat, before)


@pytest.mark.parametrize("case", protocol_cases(), ids=lambda c: c[0])
def test_protocols(instrument, pstat, before, case):
    _, text, pattern = case
    message = refused_plan(instrument, lambda s, p: run_protocol(p, text), pstat)
    assert_refused(message, pattern, instrument, pstat, before)


@pytest.mark.parametrize("case", scenario_cases(), ids=lambda c: c[0])
def test_scenario_files(instrument, pstat, before, case, tmp_path):
    _, content, pattern = case
    path = tmp_path / "scenario.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    with pytest.raises(ScenarioError) as info:
        scenario = load_scenario(path)
        preflight(scenario.steps, {"scope": instrument["scope"], "pstat": pstat})
    assert_refused(str(info.value), pattern, instrument, pstat, before)


@pytest.mark.parametrize("case", cli_cases(), ids=lambda c: c[0])
def test_command_line(instrument, pstat, before, case, capsys, tmp_path, monkeypatch):
    _, argv, pattern = case
    config = instrument["config"]
    monkeypatch.setenv("OPERANDO_TILED_PORT", str(config.tiled_port))
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    try:
        code = cli.main(["--home", str(config.home), *argv])
    except SystemExit as exc:             # argparse refuses before the command runs
        code = exc.code
    assert code == cli.EXIT_USAGE
    assert not (tmp_path / "out").exists()
    assert_refused(capsys.readouterr().err, pattern, instrument, pstat, before)


@pytest.mark.parametrize("case", pv_cases(), ids=lambda c: c[0])
def test_pv_puts(instrument, pstat, before, case):
    _, part, suffix, value, pattern = case
    name = part_prefix(instrument["config"], part) + suffix
    old = ca.read(name, repeater=False, timeout=5).data[0]
    with pytest.raises(ca.ErrorResponseReceived) as info:
        ca.write(name, value, notify=True, repeater=False, timeout=5)
    now = ca.read(name, repeater=False, timeout=5).data[0]
    assert now == old or (math.isnan(old) and math.isnan(now))
    assert_refused(str(info.value), pattern, instrument, pstat, before)


def assert_refused(message, pattern, instrument, pstat, before):
    import re

    assert re.search(pattern, message), f"message {message!r} does not match {pattern!r}"
    after = snapshot(instrument, pstat)
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert not changed, f"changed by refused input: {changed}"


def test_the_table_has_at_least_forty_cases():
    n = sum(len(f()) for f in (plan_cases, protocol_cases, scenario_cases, cli_cases, pv_cases))
    assert n >= 40, n
