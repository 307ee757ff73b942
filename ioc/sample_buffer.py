"""A fixed-size ring of telemetry samples addressed by sequence number (numpy, no per-sample objects)."""
from __future__ import annotations

import numpy as np

FIELDS = (("seq_num", "i8"), ("time_s", "f8"), ("voltage_v", "f8"), ("current_a", "f8"), ("charge_c", "f8"),
          ("cycle", "i8"), ("step_index", "i8"))


class SampleRing:
    """Keeps the newest ``capacity`` samples (56 bytes each); older ones are overwritten."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self.data = np.zeros(self.capacity, dtype=list(FIELDS))
        self.next_seq = None          # sequence number the next sample must carry
        self.count = 0

    @property
    def first_seq(self) -> int:
        """Oldest sequence number still held."""
        return 0 if self.next_seq is None else self.next_seq - min(self.count, self.capacity)

    def extend(self, samples) -> None:
        for s in samples:
            if self.next_seq is not None and s.seq_num != self.next_seq:
                raise ValueError(f"sample {s.seq_num} out of order, expected {self.next_seq}")
            self.data[s.seq_num % self.capacity] = tuple(getattr(s, name) for name, _ in FIELDS)
            self.next_seq = s.seq_num + 1
            self.count += 1

    def window(self, first_seq: int, max_samples: int) -> np.ndarray:
        """Samples first_seq ... (at most max_samples), in order; empty if none yet."""
        if first_seq < self.first_seq:
            raise ValueError(f"samples before {self.first_seq} were overwritten "
                             f"(buffer holds {self.capacity}); collect more often")
        if self.next_seq is None or first_seq >= self.next_seq:
            return self.data[:0]
        stop = min(first_seq + max_samples, self.next_seq)
        idx = np.arange(first_seq, stop) % self.capacity
        return self.data[idx]
