"""A progress bar per run: events of the primary stream (planes of a stack) against the plan's
``num_points``; moves get bluesky's ProgressBarManager (``RE.waiting_hook``)."""
from __future__ import annotations

import sys

from event_model import DocumentRouter


class StackProgress(DocumentRouter):
    """tqdm bar counting a run's primary-stream events (no total when the plan does not say)."""

    def __init__(self, stream_name: str = "primary", file=None):
        super().__init__()
        self.stream_name = stream_name
        self.file = file or sys.stderr
        self._bar = None
        self._descriptors: set[str] = set()

    def start(self, doc):
        from tqdm.auto import tqdm

        self._close()
        self._descriptors.clear()
        label = f"{doc.get('plan_name', 'run')} scan {doc.get('scan_id', '?')}"
        self._bar = tqdm(total=doc.get("num_points"), desc=label, unit="plane", file=self.file, leave=True)

    def descriptor(self, doc):
        if doc.get("name") == self.stream_name:
            self._descriptors.add(doc["uid"])

    def event(self, doc):
        if self._bar is not None and doc["descriptor"] in self._descriptors:
            self._bar.update(1)

    def event_page(self, doc):
        if self._bar is not None and doc["descriptor"] in self._descriptors:
            self._bar.update(len(doc["seq_num"]))

    def stop(self, doc):
        self._close()

    def _close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
