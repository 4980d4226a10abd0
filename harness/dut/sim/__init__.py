"""A simulated MLPerf Tiny device under test: firmware state machine, IO manager, faults and serial server."""

from harness.dut.sim.faults import FaultPlan
from harness.dut.sim.firmware import SimulatedFirmware
from harness.dut.sim.injector import FaultEvent, FaultLog
from harness.dut.sim.io_manager import IOManager
from harness.dut.sim.server import SimDutServer

__all__ = ["FaultEvent", "FaultLog", "FaultPlan", "IOManager", "SimDutServer", "SimulatedFirmware"]
