"""A TiledWriter that stores an event page as a page.

bluesky-tiled-plugins' TiledWriter (2.0.x) unpacks every event page into single events, deep-copies
and validates each against the event schema (0.9 ms per event here) and appends them to Tiled in
batches of ``batch_size`` rows (one HTTP request each, ~50 ms). A collect of 1 kHz potentiostat
telemetry is one page of ~1,000 rows per second: 2.6 s of writing per second of data at
batch_size 50, so the writer fell behind and the session's memory grew with its backlog (soak).

Here a page whose data are all internal (no external or reserved keys, no patches: the telemetry,
stack summaries) and whose columns all have the page's length is appended as one request, however
many rows it has (the schema's per-element validation of a 1,000-row page alone took 0.38 s);
anything else takes TiledWriter's own path, which validates every event. The stored table is the same either way (test).
Built on TiledWriter's documented ``normalizer`` hook and on its private run writer, whose version
the project pins (``bluesky-tiled-plugins>=2.0.12,<2.1``).
"""
from __future__ import annotations

from bluesky_tiled_plugins import TiledWriter
from bluesky_tiled_plugins.writing.tiled_writer import RESERVED_DATA_KEYS, RunNormalizer, _RunWriter
from event_model import DocumentNames


class PageNormalizer(RunNormalizer):
    """Passes a page of internal data on whole."""

    def event_page(self, doc):
        keys = set(doc["data"])
        if (self.patches.get("event") or self.patches.get("event_page") or keys & set(self._ext_keys)
                or keys & set(RESERVED_DATA_KEYS) or any(not v for v in doc.get("filled", {}).values())):
            return super().event_page(doc)
        page = {k: v for k, v in doc.items() if k != "filled"}
        page["data"] = {k: v for k, v in doc["data"].items() if k in self._int_keys}
        page["timestamps"] = {k: v for k, v in doc["timestamps"].items() if k in self._int_keys}
        columns = [page["seq_num"], page["time"], page["uid"], *page["data"].values(), *page["timestamps"].values()]
        if len({len(c) for c in columns}) != 1 or set(page["data"]) != set(page["timestamps"]):
            return super().event_page(doc)        # malformed: TiledWriter's path says what is wrong
        self.dispatcher.process(DocumentNames.event_page, page)


class _PageRunWriter(_RunWriter):
    """Appends a page's rows in one request once the stream's cache reaches ``batch_size``."""

    def event_page(self, doc):
        size = self._batch_size
        self._batch_size = float("inf")          # cache every row of the page first
        try:
            super().event_page(doc)
        finally:
            self._batch_size = size
        node = self._desc_nodes[doc["descriptor"]]
        cache = self._internal_data_cache[node.item["id"]]
        if len(cache) >= size:
            self._write_internal_data(cache, desc_node=node)
            cache.clear()


class PagedTiledWriter(TiledWriter):
    """TiledWriter with pages stored as pages (see the module's docstring)."""

    def _factory(self, name, doc):
        run_writer = _PageRunWriter(self.client, batch_size=self._batch_size, max_array_size=self._max_array_size,
                                    validate=self._validate, ignore_errors=self.ignore_errors)
        normalizer = PageNormalizer(patches=self.patches, spec_to_mimetype=self.spec_to_mimetype)
        normalizer.subscribe(run_writer)
        return [normalizer], []
