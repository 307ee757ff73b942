"""Replaying stored runs through the analysis: ``operando analyze UID``.

The run's documents come back from Tiled (``BlueskyRun.documents()``), go through the same
analysis a user subscribes to a live RunEngine (``ConfocalAnalysis``, or ``WidefieldAnalysis``
for a run with camera frames), and the derived run is written to the ``derived`` container,
where ``Key("raw_uid") == UID`` finds it.
"""
from __future__ import annotations

DERIVED_CONTAINER = "derived"


def analyze_run(client, uid: str, store: bool = True, container: str = DERIVED_CONTAINER):
    """The analysis of stored run ``uid`` (its derived run written to ``container`` if ``store``)."""
    from bluesky_tiled_plugins import TiledWriter

    from operando.analysis.live import ConfocalAnalysis
    from operando.analysis.widefield_live import WidefieldAnalysis

    from .tiled_server import RUNS_CONTAINER, runs_container

    run = client[RUNS_CONTAINER][uid]
    sink = TiledWriter(runs_container(client, container), batch_size=100) if store else None
    widefield = "widefield" in run
    analysis = WidefieldAnalysis(sink) if widefield else ConfocalAnalysis(sink, background=False)
    for name, doc in run.documents():
        analysis(name, doc)
    if not widefield:
        analysis.wait()
    return analysis


def summary_lines(analysis) -> list[str]:
    """Human-readable table of an analysis (confocal or widefield)."""
    if hasattr(analysis, "cracks"):
        return widefield_lines(analysis)
    return confocal_lines(analysis)


def widefield_lines(analysis) -> list[str]:
    """Each rod's last length, elongation and x; fronts; cracks."""
    last = {r["rod"]: r for r in analysis.rows}
    lines = ["rod  cell time (s)  length (um)  elongation (%)  x"]
    for rod, r in sorted(last.items()):
        lines.append(f"{rod:>3}  {r['cell_time_s']:>13.1f}  {r['length_um']:>11.3f}  {r['elongation'] * 100:>+14.2f}"
                     f"  {r['x']:.3f}")
    for f in analysis.fronts:
        lines.append(f"rod {f['rod']} front from end {f['end']}: {f['velocity_nm_s']:.0f} +- "
                     f"{f['velocity_error_nm_s']:.0f} nm/s ({f['t_start_s']:.1f}-{f['t_end_s']:.1f} s)")
    for c in analysis.cracks:
        lines.append(f"rod {c['rod']} crack at {c['time_s']:.1f} s, {c['position_um']:.2f} um from an end, "
                     f"{c['velocity_nm_s']:.0f} nm/s across; fragments x{c['brightness_ratio']:.2f}"
                     + (", one disconnected" if c["disconnected"] else ""))
    return lines


def confocal_lines(analysis) -> list[str]:
    """Human-readable table of the last Delta V / V of each agglomerate (inactive ones marked: within
    0.5 % or twice their error throughout) and every front."""
    last = {}
    for row in analysis.volumes:
        last[(row["position_name"], row["agglomerate"])] = row
    inactive = {(pos, ident) for pos, tracker in analysis.trackers.items() for ident in tracker.inactive()}
    lines = ["position  agglomerate  cell time (s)  dV/V (%)   +-   half-height (um)"]
    for (pos, ident), row in sorted(last.items()):
        lines.append(f"{pos:>8}  {ident:>11}  {row['cell_time_s']:>13.0f}  {row['dv_v'] * 100:>+8.2f}  "
                     f"{row['dv_v_error'] * 100:>4.2f}  {row['half_height_um']:>16.2f}"
                     + ("  inactive" if (pos, ident) in inactive else ""))
    if analysis.fronts:
        lines.append("position  agglomerate  segment     front (nm/s)   +-   spread (s)  uniform")
        for f in analysis.fronts:
            lines.append(f"{f['position_name']:>8}  {f['agglomerate']:>11}  {f['segment']:<10}  "
                         f"{f['velocity_nm_s']:>12.2f}  {f['velocity_error_nm_s']:>5.2f}  {f['spread_s']:>10.0f}  "
                         f"{f['uniform']}")
    return lines
