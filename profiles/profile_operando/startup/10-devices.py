"""Devices, connected: `confocal` (laser, scanner, piezo, stage, APDs), `pstat`, `widefield`."""
from operando.engine.instrument import connect_devices

_devices = connect_devices(instrument)
confocal = _devices.get("confocal")
pstat = _devices.get("pstat")
widefield = _devices.get("widefield")
print("connected: " + ", ".join(f"{name} ({d.prefix})" for name, d in _devices.items()))
