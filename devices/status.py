"""A DeviceStatus whose text says why it failed.

bluesky stores ``str(FailedStatus(status))`` as the stop document's ``reason``; for a plain
DeviceStatus that is only "DeviceStatus(device=..., done=True, success=False)". This one adds the
error, so a run that a full disk or a restarted potentiostat ended says so in Tiled.
"""
from ophyd.status import DeviceStatus


class ExplainedStatus(DeviceStatus):
    def __str__(self):
        text = super().__str__()
        if self.done and not self.success:
            error = self.exception(timeout=0)
            if error is not None:
                return f"{text[:-1]}, error={error})"
        return text

    __repr__ = __str__
