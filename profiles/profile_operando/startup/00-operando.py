"""IPython startup: the operando session (RE, confocal, catalog) against running IOCs and Tiled.

Start the instrument with `operando ioc all` and `operando serve` first.
"""
from operando.engine.config import Config, apply_ca_environment

config = Config()
apply_ca_environment(config)

from bluesky.callbacks.best_effort import BestEffortCallback  # noqa: E402

from operando.devices.confocal import connect_confocal  # noqa: E402
from operando.engine.instrument import run_data_directory  # noqa: E402
from operando.engine.session import make_run_engine  # noqa: E402
from operando.engine.tiled_server import connect, runs_container  # noqa: E402
from operando.devices.potentiostat import Potentiostat  # noqa: E402
from operando.plans import (cycling_zstack, dark_frames, electrolyte_stack, estimate_cycling_zstack,  # noqa: E402,F401
                            gitt, multi_position, ocv_relax, run_protocol, spectral_reflectivity, zstack)

confocal = connect_confocal(prefix=config.pv_prefix, data_directory=run_data_directory(config))
potentiostat = Potentiostat(config.pv_prefix + "PSTAT:", name="pstat")
potentiostat.wait_for_connection(timeout=10)
client = connect(config)
catalog = runs_container(client)
RE, writer = make_run_engine(config, client)
from operando.analysis.live import ConfocalAnalysis  # noqa: E402,F401
# Live analysis (docs/analysis.md):
#   analysis = ConfocalAnalysis(writer.sink(runs_container(client, "derived"))); token = RE.subscribe(analysis)
bec = BestEffortCallback()
bec.disable_plots()
RE.subscribe(bec)
