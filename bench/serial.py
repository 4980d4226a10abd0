"""``serial_transfer_efficiency``: tensor bytes/s into a simulated DUT paced at 115200 baud / the protocol's ceiling."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from harness.core.paths import models_dir, targets_dir
from harness.core.transcript import Transcript
from harness.dut.client import DutClient
from harness.dut.sim.firmware import SimulatedFirmware
from harness.dut.sim.server import SimDutServer
from harness.dut.transfer import transfer_efficiency
from harness.registry.models import ModelRegistry
from harness.registry.resources import Link
from harness.registry.targets import TargetRegistry

BAUD = 115_200
LOADS = 20


def serial_figures() -> dict[str, dict[str, Any]]:
    model = ModelRegistry(models_dir()).get("mlperf-dscnn-kws")  # a 490-byte int8 KWS input
    target = TargetRegistry(targets_dir()).get("nucleo-l4r5zi")
    firmware = SimulatedFirmware(target, model)
    tensor = bytes(range(256)) + bytes(range(234))
    with tempfile.TemporaryDirectory(prefix="bench-serial-") as work, \
            SimDutServer(firmware, baud=BAUD) as server, \
            DutClient(Link(url=server.url, baud=BAUD), Transcript(Path(work) / "transcript.log")) as client:
        client.open()
        client.load(tensor)  # warm-up: connection and first-command costs stay out of the figure
        figure = transfer_efficiency(client, tensor, loads=LOADS).record()
    return {"serial_transfer_efficiency": {
        **figure, "value": round(float(figure["value"]), 3), "limit": 1.0,
        "method": f"{LOADS} loads of a {len(tensor)}-byte tensor in 31-byte db chunks, link paced as UART 8N1",
        "command": "python -m bench.run --only serial"}}
