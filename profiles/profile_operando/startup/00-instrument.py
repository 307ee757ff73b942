"""The instrument this session drives: ports and PV prefixes from instrument.yaml
(or the file $OPERANDO_INSTRUMENT names). Loaded by IPython and by the queue server's worker."""
from bluesky_queueserver import is_re_worker_active

from operando.engine.config import apply_ca_environment
from operando.engine.instrument_file import load_instrument

instrument = load_instrument()
config = instrument.config
if instrument.loopback_ports:
    apply_ca_environment(config)    # before any PV is created
