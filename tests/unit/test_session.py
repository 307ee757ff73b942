import subprocess
import sys
import textwrap

SESSION = textwrap.dedent("""
    import sys
    import bluesky.plan_stubs as bps
    import bluesky.preprocessors as bpp
    from operando.engine.config import Config
    from operando.engine.session import make_run_engine

    RE, writer = make_run_engine(Config().with_home(sys.argv[1]))
    assert writer is None
    docs = []
    for _ in range(int(sys.argv[2])):
        RE(bpp.run_wrapper(bps.null(), md={"plan_name": "empty"}), lambda name, doc: docs.append((name, doc)))
    if len(sys.argv) > 3:
        RE.md["operator"] = sys.argv[3]
    start = [d for n, d in docs if n == "start"][-1]
    print(start["scan_id"], start.get("operator", ""))
""")


def _session(home, runs, *extra):
    out = subprocess.run([sys.executable, "-c", SESSION, str(home), str(runs), *extra],
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.split()


def test_scan_ids_and_metadata_persist_across_sessions(tmp_path):
    assert _session(tmp_path, 2, "A.Scientist") == ["2"]
    assert _session(tmp_path, 1) == ["3", "A.Scientist"]
