"""``operando analyze --query KEY=VALUE[,...] --workers N``: re-analyse many stored runs in parallel.

Each run is replayed from Tiled through the analysis in one of N worker processes
(``concurrent.futures.ProcessPoolExecutor``; each process opens its own Tiled client) and its
derived run stored, as ``operando analyze UID`` does for one run.
"""
from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

MAX_WORKERS = 64


def parse_query(text: str) -> dict:
    """'material=LCO,plan_name=cycling_zstack' -> {'material': 'LCO', ...}; numbers stay numbers."""
    terms = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ValueError(f"--query: KEY=VALUE terms separated by commas (e.g. material=LCO,c_rate=0.5), "
                             f"not {part.strip()!r}")
        terms[key] = float(value) if value.replace(".", "", 1).removeprefix("-").isdigit() else value
    return terms


def matching_runs(client, terms: dict) -> list[str]:
    """uids of the raw runs whose start document matches every term, oldest first."""
    from tiled.queries import Key

    from .tiled_server import RUNS_CONTAINER

    results = client[RUNS_CONTAINER]
    for key, value in terms.items():
        results = results.search(Key(key) == value)
    return list(results)[::-1]


_client = None


def _connect(config):
    global _client
    from .tiled_server import connect

    _client = connect(config)


def _analyse(uid: str, container: str) -> tuple[str, int, float]:
    from .analyze import analyze_run

    t0 = time.perf_counter()
    analysis = analyze_run(_client, uid, store=True, container=container)
    rows = len(getattr(analysis, "volumes", None) or getattr(analysis, "rows", []))
    return uid, rows, time.perf_counter() - t0


def analyse_many(config, uids: list[str], workers: int, container: str, report=print) -> float:
    """Analyse ``uids`` in ``workers`` processes; returns the wall time (s)."""
    t0 = time.perf_counter()
    # spawn, not fork: a forked copy of a process with Channel Access or HTTP threads can hang or die
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_connect, initargs=(config,)) as pool:
        futures = [pool.submit(_analyse, uid, container) for uid in uids]
        for future in as_completed(futures):
            uid, rows, took = future.result()
            report(f"{uid[:8]}: {rows} rows in {took:.1f} s")
    return time.perf_counter() - t0
