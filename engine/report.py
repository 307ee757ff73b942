"""``operando report UID``: PNG figures and a static HTML page for one stored run.

The page shows the run's metadata and streams, the cell's voltage and current, the first and
last images (maximum projections of stacks, camera frames) and, where analysis runs were made
from it, their results: volume changes, electrolyte concentration, rod elongation, and the
tables of fronts and cracks. Everything is read back through Tiled; the page and its PNGs sit
in one folder that opens without a server.
"""
from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import numpy as np

from operando.analysis.figures import _figure, _save, projection

from .catalog import derived_runs, describe
from .export import image_series


def write_report(client, run, out_dir: Path) -> Path:
    """Write ``index.html`` and its figures into ``out_dir``; returns the page's path."""
    start = run.metadata["start"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, str]] = []          # (file name, caption)
    tables: list[tuple[str, list[str], list[list]]] = []
    if "potentiostat" in run:
        figures.append(_electrochemistry(run, out_dir / "electrochemistry.png"))
    figures += _images(run, out_dir)
    analyses = [run] if start.get("raw_uid") else derived_runs(client, start["uid"])
    for derived in analyses:
        f, t = _analysis(derived, out_dir)
        figures += f
        tables += t
    page = out_dir / "index.html"
    page.write_text(_html(run, figures, tables, analyses if not start.get("raw_uid") else []), encoding="utf-8")
    return page


def _electrochemistry(run, path: Path) -> tuple[str, str]:
    table = run["potentiostat"].read()
    t = np.asarray(table["pstat_time_s"], float)
    fig = _figure(figsize=(7, 4.2))
    ax_v, ax_i = fig.subplots(2, 1, sharex=True)
    scale, unit = _time_unit(t)
    ax_v.plot(t / scale, table["pstat_voltage_v"], lw=1)
    ax_v.set_ylabel("voltage (V)")
    ax_i.plot(t / scale, np.asarray(table["pstat_current_a"], float) * 1e3, lw=1, color="tab:red")
    ax_i.set_ylabel("current (mA)")
    ax_i.set_xlabel(f"cell time ({unit})")
    _save(fig, path)
    return path.name, f"Potentiostat telemetry: {len(t)} samples (charging current positive)."


def _time_unit(t: np.ndarray) -> tuple[float, str]:
    """(seconds per unit, unit) for a time axis reaching max(t) s."""
    end = float(np.max(t, initial=0.0))
    return (3600.0, "h") if end > 7200 else (60.0, "min") if end > 120 else (1.0, "s")


def _images(run, out_dir: Path) -> list[tuple[str, str]]:
    """First and last image of each image series (stacks as maximum projections)."""
    out = []
    for series in image_series(run):
        blocks = series.slices if series.axes == "TZYX" else [series.slices[0]]
        array = series.run[series.stream][series.key]
        picks = {"first": blocks[0], "last": blocks[-1]} if len(blocks) > 1 or series.axes == "TYX" else \
            {"": blocks[0]}
        for which, s in picks.items():
            if series.axes == "TYX":
                index = s.start if which == "first" else s.stop - 1
                frames = np.asarray(array[index:index + 1])
                kind = f"{which} frame (event {index + 1})"
            else:
                frames = np.asarray(array[s])
                kind = f"{which + ' ' if which else ''}stack, maximum projection of {len(frames)} planes"
            name = f"{series.label}_{which or 'stack'}.png"
            projection(frames, series.pixel_size_um or 1.0, out_dir / name, f"{series.label}: {kind}")
            out.append((name, f"{series.key} ({series.units}), {kind}"
                              + ("" if series.pixel_size_um else "; axes in pixels")))
    return out


def _analysis(derived, out_dir: Path):
    """Figures and tables of one derived run's streams."""
    figures, tables = [], []
    uid8 = derived.metadata["start"]["uid"][:8]
    plots = {"volumes": ("dv_v", 100.0, "ΔV/V (%)", ("position_name", "agglomerate")),
             "electrolyte": ("delta_c_near_m", 1.0, "ΔC salt near the surface (mol/L)", ("position_name", "agglomerate")),
             "rods": ("elongation", 100.0, "elongation (%)", ("rod",))}
    for stream, (key, scale, label, by) in plots.items():
        if stream not in derived:
            continue
        table = derived[stream].read()
        time_key = "cell_time_s"
        if any(k not in table for k in (time_key, key, *by)) or len(table[time_key]) == 0:
            continue                      # a stream declared but never filled (a run too short to analyse)
        t = np.asarray(table[time_key], float)
        y = np.asarray(table[key], float) * scale
        ids = list(zip(*(np.asarray(table[k]).astype(str) for k in by)))
        fig = _figure(figsize=(7, 4))
        ax = fig.subplots()
        scale, unit = _time_unit(t)
        for ident in sorted(set(ids))[:30]:
            mask = np.array([i == ident for i in ids])
            ax.plot(t[mask] / scale, y[mask], ".-", lw=1, ms=3, label=" ".join(ident))
        ax.set_xlabel(f"cell time ({unit})")
        ax.set_ylabel(label)
        if len(set(ids)) <= 12:
            ax.legend(fontsize=7, ncol=2)
        name = f"{uid8}_{stream}.png"
        _save(fig, out_dir / name)
        figures.append((name, f"{label} from analysis run {uid8} ({len(t)} rows, {len(set(ids))} objects)."))
    for stream in ("fronts", "cracks"):
        if stream in derived:
            table = derived[stream].read()
            columns = [k for k in table.keys() if not k.startswith("ts_") and k not in ("seq_num", "time")]
            rows = [[_cell(table[k][i]) for k in columns] for i in range(len(table[columns[0]]))] if columns else []
            tables.append((f"{stream} (analysis run {uid8})", columns, rows))
    return figures, tables


def _cell(value) -> str:
    value = np.asarray(value).item()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


STYLE = """body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:90%}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#eee}figure{display:inline-block;margin:0.5em;vertical-align:top;max-width:520px}
figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:85%;color:#444}pre{background:#f6f6f6;padding:1em;
overflow-x:auto;font-size:85%}"""


def _html(run, figures, tables, analyses) -> str:
    start = run.metadata["start"]
    stop = run.metadata.get("stop") or {}
    esc = html.escape
    title = f"{start.get('plan_name', 'run')} — scan {start.get('scan_id', '')} ({start['uid'][:8]})"
    when = dt.datetime.fromtimestamp(start["time"]).isoformat(sep=" ", timespec="seconds")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
             f"<style>{STYLE}</style></head><body>", f"<h1>{esc(title)}</h1>",
             f"<p>Started {esc(when)}; status <b>{esc(stop.get('exit_status', 'no stop document'))}</b>."
             f" Material {esc(str(start.get('material', '—')))}, sample "
             f"{esc(str(start.get('sample_name') or start.get('sample', '—')))}.</p>"]
    if start.get("protocol"):
        parts.append(f"<h2>Protocol</h2><pre>{esc(start['protocol'])}</pre>")
    parts.append("<h2>Figures</h2>")
    parts += [f"<figure><img src='{esc(name)}' alt='{esc(caption)}'><figcaption>{esc(caption)}</figcaption></figure>"
              for name, caption in figures]
    for caption, columns, rows in tables:
        parts.append(f"<h2>{esc(caption)}</h2><table><tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in rows]
        parts.append("</table>")
    if analyses:
        parts.append("<h2>Analysis runs</h2><ul>" + "".join(
            f"<li>{esc(a.metadata['start']['uid'])} ({esc(str(a.metadata['start'].get('analysis', '')))})</li>"
            for a in analyses) + "</ul>")
    parts.append(f"<h2>Run</h2><pre>{esc(chr(10).join(describe(run)))}</pre></body></html>")
    return "\n".join(parts)
