import bluesky.plan_stubs as bps
import pytest
import bluesky.preprocessors as bpp

from operando.engine.config import Config
from operando.engine.session import make_run_engine


@bpp.run_decorator(md={"plan_name": "empty"})
def _empty_run():
    yield from bps.null()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # zict finaliser at exit
def test_scan_ids_keep_counting_across_sessions(tmp_path):
    config = Config().with_home(tmp_path)
    RE, writer = make_run_engine(config)
    assert writer is None
    RE(_empty_run())
    RE(_empty_run())
    assert RE.md["scan_id"] == 2
    RE.md["operator"] = "A. Scientist"
    RE2, _ = make_run_engine(config)
    docs = []
    RE2(_empty_run(), lambda name, doc: docs.append((name, doc)))
    start = dict(docs)["start"]
    assert start["scan_id"] == 3 and start["operator"] == "A. Scientist"
