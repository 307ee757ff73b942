"""`RE` (metadata kept in $OPERANDO_HOME/re_md between sessions), `client` and `catalog` (Tiled:
raw runs; `derived` holds analysis runs); every run goes to Tiled through a TiledWriter on its
own thread, with a JSONL backup of any run Tiled fails to take."""
from tiled.queries import Key  # noqa: F401

from operando.engine.session import make_run_engine
from operando.engine.tiled_server import connect, runs_container, wait_for_tiled

wait_for_tiled(config, timeout=30)          # a server started a moment ago may still be coming up
client = connect(config)
catalog = runs_container(client)            # catalog[-1], catalog[uid], catalog.search(Key("material") == "LCO")
derived = runs_container(client, "derived")
# RE(...) returns once Tiled holds the run (engine.session.StoringRunEngine), also in a queue server
# worker that may be closed right after a plan.
RE, writer = make_run_engine(config, client, batch_size=50)   # telemetry at up to 1 kHz: fewer, larger writes

# A controller (IOC) that drops off suspends the run; it resumes when the controller is back
# (RE.suspenders lists them; RE.clear_suspenders() removes them). `suspenders: deadline_s:` in the
# instrument file ends a run whose controller stays away longer (no limit by default).
from operando.engine.suspenders import controllers, install_disconnect_suspenders  # noqa: E402

install_disconnect_suspenders(RE, controllers(*_devices.values()), deadline_s=instrument.suspension_deadline_s)
