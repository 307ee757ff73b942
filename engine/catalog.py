"""Finding and describing stored runs: the queries behind ``operando runs`` and ``operando show``.

Runs are searched on their start-document keys (docs/metadata.md): ``material``, ``c_rate``,
``plan_name``, ``sample_name``/``sample``, ``operator`` and the start ``time``. A derived run
names its raw run (``raw_uid``); a raw run's derived runs are found by that key.
"""
from __future__ import annotations

import datetime as dt
import math

from .analyze import DERIVED_CONTAINER
from .tiled_server import RUNS_CONTAINER


def parse_date(text: str, name: str, end: bool = False) -> float:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM`` (local time) as a Unix time; ``end`` makes a bare date
    mean the end of that day. ValueError names the parameter."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: a date as YYYY-MM-DD or YYYY-MM-DDTHH:MM, got {text!r}") from None
    if end and len(text) <= 10:
        when += dt.timedelta(days=1)
    return when.timestamp()


def search_runs(container, material: str | None = None, c_rate: float | None = None, plan: str | None = None,
                sample: str | None = None, operator: str | None = None, since: float | None = None,
                until: float | None = None):
    """The runs of ``container`` matching every given criterion (a lazily paged Tiled result)."""
    from tiled.queries import Comparison, Key

    if c_rate is not None and not (math.isfinite(c_rate) and c_rate > 0):
        raise ValueError(f"c_rate: a positive C-rate such as 0.5 for C/2, got {c_rate}")
    if since is not None and until is not None and until <= since:
        raise ValueError("since/until: the end of the date range must come after its start")
    results = container
    for key, value in (("material", material), ("plan_name", plan), ("operator", operator)):
        if value is not None:
            results = results.search(Key(key) == value)
    if sample is not None:     # operando runs carry sample_name; simple runs a `sample` string
        by_name = results.search(Key("sample_name") == sample)
        results = by_name if len(by_name) else results.search(Key("sample") == sample)
    if c_rate is not None:
        results = results.search(Key("c_rate") == float(c_rate))
    if since is not None:
        results = results.search(Comparison("gt", "time", since))
    if until is not None:
        results = results.search(Comparison("lt", "time", until))
    return results


RUN_COLUMNS = ("uid", "scan", "start (local)", "plan", "material", "C-rate", "sample", "status", "events")


def run_row(start: dict, stop: dict | None) -> tuple:
    """One line of ``operando runs`` (the RUN_COLUMNS), then the full uid."""
    stop = stop or {}
    sample = start.get("sample_name") or start.get("sample")
    if isinstance(sample, dict):
        sample = sample.get("name")
    c_rate = start.get("c_rate")
    return (start["uid"][:8], str(start.get("scan_id", "")),
            dt.datetime.fromtimestamp(start["time"]).strftime("%Y-%m-%d %H:%M:%S"),
            start.get("plan_name", ""), start.get("material", ""),
            _c_rate_text(c_rate), str(sample or ""), stop.get("exit_status", "(running or lost)"),
            str(sum((stop.get("num_events") or {}).values())) if stop else "", start["uid"])


def _c_rate_text(c_rate) -> str:
    if c_rate is None:
        return ""
    c_rate = float(c_rate)
    if c_rate < 1:
        inverse = 1 / c_rate
        if abs(inverse - round(inverse)) < 1e-6:
            return f"C/{round(inverse)}"
    return f"{c_rate:g}C"


def format_table(rows: list[tuple], columns=RUN_COLUMNS) -> str:
    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) if rows else len(str(c))
              for i, c in enumerate(columns)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def newest_rows(results, limit: int) -> list[tuple]:
    """The ``limit`` newest runs of a search, newest first."""
    if limit < 1:
        raise ValueError(f"limit: at least 1 run, got {limit}")
    rows = []
    for _, run in results.items()[-1:-limit - 1:-1]:
        md = run.metadata
        rows.append(run_row(md["start"], md.get("stop")))
    return rows


def find_run(client, uid: str):
    """(container name, run) for a uid or a unique uid prefix (5 characters or more), raw runs first.
    KeyError if absent, ValueError for a prefix that is too short or not unique."""
    if len(uid) < 5:
        raise ValueError(f"uid: at least 5 characters of a run's uid, got {uid!r}")
    for name in (RUNS_CONTAINER, DERIVED_CONTAINER):
        if name in client:
            try:
                return name, client[name][uid]
            except KeyError:
                pass
    raise KeyError(f"no run {uid!r}")


def derived_runs(client, raw_uid: str) -> list:
    """The analysis runs made from raw run ``raw_uid`` (oldest first)."""
    from tiled.queries import Key

    if DERIVED_CONTAINER not in client:
        return []
    return list(client[DERIVED_CONTAINER].search(Key("raw_uid") == raw_uid).values())


def describe(run) -> list[str]:
    """``operando show``: metadata essentials, then each stream with its keys' shapes and units."""
    start, stop = run.metadata["start"], run.metadata.get("stop") or {}
    lines = [f"uid        {start['uid']}", f"scan_id    {start.get('scan_id', '')}",
             f"plan       {start.get('plan_name', '')}",
             f"started    {dt.datetime.fromtimestamp(start['time']).isoformat(timespec='seconds')}",
             f"status     {stop.get('exit_status', '(no stop document: running, or interrupted)')}"
             + (f" ({stop['reason']})" if stop.get("reason") else "")]
    if stop.get("time"):
        lines.append(f"duration   {stop['time'] - start['time']:.1f} s")
    for key in ("material", "c_rate", "sample_name", "operator", "protocol", "raw_uid", "analysis"):
        if key in start:
            value = start[key] if key != "c_rate" or start[key] is None else _c_rate_text(start[key])
            lines.append(f"{key:<10} " + str(value).replace("\n", " | "))
    if isinstance(start.get("sample"), dict):
        lines.append(f"sample     {start['sample'].get('name', '')} ({start['sample'].get('material', '')})")
    elif "sample" in start:
        lines.append(f"sample     {start['sample']}")
    lines.append("streams")
    for name in run:
        stream = run[name]
        descriptors = stream.descriptors
        data_keys = descriptors[0]["data_keys"] if descriptors else {}
        n_events = (stop.get("num_events") or {}).get(name, "?")
        lines.append(f"  {name}  ({n_events} events)")
        for key, spec in data_keys.items():
            shape = [n_events, *spec.get("shape", [])]
            where = " external HDF5" if spec.get("external") else ""
            lines.append(f"    {key:<40} {str(tuple(shape)):<18} {spec.get('dtype_numpy') or spec.get('dtype', ''):<8}"
                         f" {spec.get('units') or '-':<8}{where}")
    return lines
