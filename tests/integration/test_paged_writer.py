"""The session's writer (engine/paged_writer.py) stores an event page in one append and the same
table as bluesky-tiled-plugins' TiledWriter, into a real Tiled server."""
import numpy as np
import pytest
from bluesky_tiled_plugins import TiledWriter
from bluesky_tiled_plugins.writing.tiled_writer import _RunWriter
from event_model import compose_run

from operando.engine.paged_writer import PagedTiledWriter
from operando.engine.tiled_server import runs_container

pytestmark = pytest.mark.integration

ROWS = 1300                      # one collect of 1 kHz telemetry


def documents(seed=3):
    """A run with a telemetry stream: two event pages, then one single event, and a stream with a
    reserved data key ("time") that must go TiledWriter's own way."""
    rng = np.random.default_rng(seed)
    run = compose_run(metadata={"plan_name": "paged writer test"})
    docs = [("start", run.start_doc)]
    keys = {"pstat_voltage_v": ("number", "V"), "pstat_current_a": ("number", "A"),
            "pstat_seq_num": ("integer", ""), "pstat_step_index": ("integer", "")}
    telemetry = run.compose_descriptor(name="potentiostat", data_keys={
        k: {"source": "sim", "dtype": dtype, "shape": [], "units": units} for k, (dtype, units) in keys.items()})
    odd = run.compose_descriptor(name="odd", data_keys={"time": {"source": "sim", "dtype": "number", "shape": [],
                                                                 "units": "s"}})
    docs += [("descriptor", telemetry.descriptor_doc), ("descriptor", odd.descriptor_doc)]
    seq = 0
    for _ in range(2):
        data = {"pstat_voltage_v": list(3.8 + rng.random(ROWS)), "pstat_current_a": list(rng.random(ROWS) * 1e-3),
                "pstat_seq_num": list(range(seq, seq + ROWS)), "pstat_step_index": [2] * ROWS}
        stamps = list(1.7e9 + np.arange(seq, seq + ROWS) * 1e-3)
        docs.append(("event_page", telemetry.compose_event_page(
            data=data, timestamps={k: stamps for k in data}, seq_num=list(range(seq + 1, seq + ROWS + 1)),
            time=stamps)))
        seq += ROWS
    docs.append(("event", telemetry.compose_event(data={"pstat_voltage_v": 4.0, "pstat_current_a": 0.0,
                                                        "pstat_seq_num": seq, "pstat_step_index": 3},
                                                  timestamps={k: 1.8e9 for k in keys}, seq_num=seq + 1)))
    docs.append(("event_page", odd.compose_event_page(data={"time": [1.0, 2.0]}, timestamps={"time": [1.0, 2.0]},
                                                      seq_num=[1, 2], time=[1.0, 2.0])))
    docs.append(("stop", run.compose_stop()))
    return docs


def test_a_page_is_one_append_and_the_stored_run_is_the_same(instrument, monkeypatch):
    client = instrument["client"]
    appends = []
    original = _RunWriter._write_internal_data

    def counting(self, data_cache, desc_node):
        appends.append((type(self).__name__, desc_node.item["id"], len(data_cache)))
        return original(self, data_cache, desc_node)

    monkeypatch.setattr(_RunWriter, "_write_internal_data", counting)
    docs = documents()
    uid = docs[0][1]["uid"]
    stored = {}
    for label, writer_class in (("stock", TiledWriter), ("paged", PagedTiledWriter)):
        container = runs_container(client, f"writer-test-{label}")
        writer = writer_class(container, batch_size=50)
        for name, doc in docs:
            writer(name, doc)
        stored[label] = container[uid]
    stock, paged = stored["stock"], stored["paged"]
    for stream in ("potentiostat", "odd"):
        a, b = stock[stream].read(), paged[stream].read()
        assert sorted(a.keys()) == sorted(b.keys())
        for key in a.keys():
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=f"{stream}/{key}")
    assert np.asarray(paged["potentiostat"].read()["pstat_seq_num"]).size == 2 * ROWS + 1
    paged_appends = [n for cls, stream, n in appends if cls == "_PageRunWriter" and stream == "potentiostat"]
    stock_appends = [n for cls, stream, n in appends if cls == "_RunWriter" and stream == "potentiostat"]
    assert paged_appends == [ROWS, ROWS, 1], paged_appends          # a page a request; the last event at stop
    assert len(stock_appends) == 53 and sum(stock_appends) == 2 * ROWS + 1
