"""Running the code blocks of the docs as a reader would.

``python`` blocks of one page run in order in one IPython session with the operando profile (the
instrument file given), ``bash`` blocks in a shell whose working directory mirrors the repository
(outputs land in a temporary folder), ``yaml`` blocks are loaded by the program that reads them,
``text`` blocks are diagrams. `make demo` / `make test` / `make bench` are the suite's own entry
points: inside a doc block they are checked with ``make -n`` (this suite is `make test`; the demo
and the benchmarks run on their own), said so in the output.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "profile_operando"
FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
SENTINEL = "DOC-BLOCKS-RAN-TO-THE-END"
MAKE_GUARD = r'''make() {
  case "$1" in
    demo|test|bench|install) command make -n "$@" > /dev/null && echo "make $1: target and commands checked with make -n" ;;
    *) command make "$@" ;;
  esac
}
'''


def doc_pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def code_blocks(page: Path) -> list[tuple[str, str, int]]:
    """(language, code, line number) of each fenced block."""
    text = page.read_text()
    return [(m.group(1), m.group(2), text[:m.start()].count("\n") + 1) for m in FENCE.finditer(text)]


def run_python(page: Path, env: dict, workdir: Path, timeout: float = 600) -> str:
    """All python blocks of ``page`` in one profile session; returns its output (fails on any error)."""
    blocks = [(code, line) for lang, code, line in code_blocks(page) if lang == "python"]
    script = workdir / f"{page.stem}_blocks.py"
    script.write_text("".join(f"# --- {page.name}:{line}\n{code}\n" for code, line in blocks)
                      + f"print({SENTINEL!r})\n")
    argv = [sys.executable, "-m", "IPython", f"--profile-dir={PROFILE}", "--HistoryManager.hist_file=:memory:",
            "--colors=NoColor", "-c", f"%run -i {script}"]
    done = subprocess.run(argv, env=env, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    out = done.stdout + "\n" + done.stderr
    # An uncaught exception stops %run before the last line; tracebacks the RunEngine logs for a
    # refused plan that the page catches are part of the example.
    assert SENTINEL in done.stdout, f"{page.name} python blocks failed:\n{out[-6000:]}"
    return out


def run_bash(page: Path, env: dict, workdir: Path, timeout: float = 600) -> str:
    """Each bash block of ``page`` as a script (``set -e``) in ``workdir``, which mirrors the repository;
    background jobs it started are stopped with it. Returns the output."""
    mirror(workdir)
    outputs = []
    for lang, code, line in code_blocks(page):
        if lang != "bash":
            continue
        script = workdir / f"{page.stem}_{line}.sh"
        script.write_text("set -e\n" + MAKE_GUARD + code)
        log = script.with_suffix(".log")
        with open(log, "w") as sink:      # a file, not a pipe: background jobs keep a pipe open
            proc = subprocess.Popen(["bash", str(script)], env=env, cwd=workdir, stdout=sink,
                                    stderr=subprocess.STDOUT, start_new_session=True, stdin=subprocess.DEVNULL)
            timed_out = False
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _stop_group(proc.pid)         # the block's background jobs (servers) end with it
                proc.wait(10)
        out = log.read_text()
        assert not timed_out, f"{page.name}:{line} bash block still running after {timeout} s:\n{out[-6000:]}"
        assert proc.returncode == 0, f"{page.name}:{line} bash block exited {proc.returncode}:\n{out[-6000:]}"
        outputs.append(out)
    return "\n".join(outputs)


def mirror(workdir: Path) -> None:
    """Symlinks to the repository's top-level entries, so relative paths in the docs resolve while
    what the commands write stays in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    for entry in REPO.iterdir():
        if entry.name in ("var", "demo-output", ".git") or (workdir / entry.name).exists():
            continue
        (workdir / entry.name).symlink_to(entry)


def _stop_group(pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        for _ in range(100):
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            import time

            time.sleep(0.1)


def session_env(config, instrument_file: Path | None = None, **extra) -> dict:
    """The environment of a reader whose instrument is ``config`` (ports, home)."""
    env = dict(os.environ, OPERANDO_HOME=str(config.home), OPERANDO_CA_PORT=str(config.ca_base_port),
               OPERANDO_TILED_PORT=str(config.tiled_port), OPERANDO_PV_PREFIX=config.pv_prefix,
               PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}", PYTHONUNBUFFERED="1")
    if instrument_file is not None:
        env["OPERANDO_INSTRUMENT"] = str(instrument_file)
    env.update({k: str(v) for k, v in extra.items()})
    return env
