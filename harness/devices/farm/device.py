"""A serial DUT in a labgrid place: the place is acquired before the port opens and released when the device
closes, whatever ended the session (an error, Ctrl-C, SIGTERM)."""

from __future__ import annotations

from typing import Any

from harness.devices.base import Deployment, Measurement
from harness.devices.farm.lease import Lease, acquire
from harness.devices.serial_dut import SerialDutDevice
from harness.dut.modes import WindowedResult
from harness.power.integrate import EnergyMeasurement
from harness.power.trace import Trace
from harness.registry.models import ModelEntry
from harness.registry.places import parse_place_url
from harness.registry.targets import TargetProfile
from harness.rundir.directory import RunDirectory


class PlaceDevice(SerialDutDevice):
    """The MLPerf Tiny DUT behind a place's exported serial port; holds ``lease`` until closed."""

    def __init__(self, target: TargetProfile, run: RunDirectory, lease: Lease, **options: Any) -> None:
        super().__init__(target, run, **options)
        self.lease = lease

    def _do_deploy(self, model: ModelEntry, stack: str) -> Deployment:
        deployment = super()._do_deploy(model, stack)
        deployment.details.update(self.lease.record())
        return deployment

    def _measurement(self, result: WindowedResult, energy: EnergyMeasurement | None,
                     trace: Trace | None) -> Measurement:
        measurement = super()._measurement(result, energy, trace)
        measurement.row_fields["labgrid_place"] = self.lease.place
        return measurement

    def _close_and_release(self, strict: bool) -> None:
        try:
            super().close()
        finally:
            self.lease.release(strict=strict)

    def close(self) -> None:
        self._close_and_release(strict=True)

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._close_and_release(strict=exc_type is None)


def open_place(target: TargetProfile, run: RunDirectory, **options: Any) -> PlaceDevice:
    """Acquire the place ``target.link`` names and open its DUT at the serial URL the place exports.

    The link's baud becomes the exporter's declared UART speed: the lab's exporter config says how the
    board is wired.
    """
    lease = acquire(parse_place_url(target.link.url), options.get("progress"))
    try:
        link = target.link.model_copy(update={"url": lease.endpoint.url, "baud": lease.endpoint.speed})
        return PlaceDevice(target.model_copy(update={"link": link}), run, lease, **options)
    except BaseException:
        lease.release(strict=False)
        raise
