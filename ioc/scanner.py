"""Simulated galvanometric scanner: field, pixels, pixel size, dwell and raster."""
from __future__ import annotations

from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from .common import ioc_arguments, ranged, serve


def frame_time_s(nx: int, ny: int, dwell_s: float, flyback_s: float, bidirectional: bool) -> float:
    """Time to scan one plane: pixels x dwell plus a flyback per line (unidirectional)
    or a turnaround of a quarter of it (bidirectional)."""
    per_line = flyback_s * (0.25 if bidirectional else 1.0)
    return ny * (nx * dwell_s + per_line)


class ScannerIOC(PVGroup):
    """Galvo scan geometry. Readbacks: field of view (um) and frame time (s)."""

    pixels_x = ranged(512, 16, 2048, "px", "Pixels per line", name="PixelsX")
    pixels_y = ranged(512, 16, 2048, "px", "Lines per frame", name="PixelsY")
    pixel_size = ranged(0.08, 0.01, 1.0, "um", "Pixel size in the sample", name="PixelSize", precision=4)
    dwell = ranged(1e-5, 1e-6, 1e-4, "s", "Pixel dwell time", name="Dwell", precision=7)
    flyback = ranged(2e-4, 0.0, 5e-3, "s", "Line flyback time", name="Flyback", precision=6)
    center_x = ranged(0.0, -50.0, 50.0, "um", "Field centre offset x", name="CenterX", precision=3)
    center_y = ranged(0.0, -50.0, 50.0, "um", "Field centre offset y", name="CenterY", precision=3)
    raster = pvproperty(value="Unidirectional", enum_strings=["Unidirectional", "Bidirectional"],
                        dtype=ChannelType.ENUM, name="Raster", doc="Raster pattern")
    field_x = pvproperty(value=0.0, name="FieldX_RBV", read_only=True, units="um", precision=3)
    field_y = pvproperty(value=0.0, name="FieldY_RBV", read_only=True, units="um", precision=3)
    frame_time = pvproperty(value=0.0, name="FrameTime_RBV", read_only=True, units="s", precision=4)

    async def _update(self, **override):
        get = lambda key, pv: override.get(key, pv.value)  # noqa: E731
        nx, ny = get("nx", self.pixels_x), get("ny", self.pixels_y)
        size = get("size", self.pixel_size)
        bidi = get("raster", self.raster) == "Bidirectional"
        await self.field_x.write(nx * size)
        await self.field_y.write(ny * size)
        await self.frame_time.write(frame_time_s(nx, ny, get("dwell", self.dwell),
                                                 get("flyback", self.flyback), bidi))

    @field_x.startup
    async def field_x(self, instance, async_lib):
        await self._update()

    @pixels_x.putter
    async def pixels_x(self, instance, value):
        await self._update(nx=value)

    @pixels_y.putter
    async def pixels_y(self, instance, value):
        await self._update(ny=value)

    @pixel_size.putter
    async def pixel_size(self, instance, value):
        await self._update(size=value)

    @dwell.putter
    async def dwell(self, instance, value):
        await self._update(dwell=value)

    @flyback.putter
    async def flyback(self, instance, value):
        await self._update(flyback=value)

    @raster.putter
    async def raster(self, instance, value):
        await self._update(raster=value)


def main(argv=None):
    args = ioc_arguments(ScannerIOC.__doc__, "OPR:SCAN:").parse_args(argv)
    serve(ScannerIOC(prefix=args.prefix), args.interface, args.verbose)


if __name__ == "__main__":
    main()
