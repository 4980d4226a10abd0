"""Input-transfer efficiency: tensor bytes/s a client delivers over the DUT protocol against the protocol's ceiling.

The ceiling is what the wire allows at the link's baud (8N1: 10 bits a byte) for every byte the
load puts on it in both directions: command text, hex payload, ``%``, and the reply lines up to
``m-ready``. A ratio below 1 is time the host (or the DUT) spends between commands.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.dut.client import DutClient
from harness.dut.protocol import wire_seconds


@dataclass(frozen=True)
class TransferEfficiency:
    tensor_bytes: int
    wire_bytes: int
    seconds: float
    baud: int
    loads: int

    @property
    def bytes_per_s(self) -> float:
        return self.tensor_bytes / self.seconds

    @property
    def ceiling_bytes_per_s(self) -> float:
        return self.tensor_bytes / wire_seconds(self.wire_bytes, self.baud)

    @property
    def efficiency(self) -> float:
        return self.bytes_per_s / self.ceiling_bytes_per_s

    def record(self) -> dict[str, float | int]:
        return {"value": self.efficiency, "tensor_bytes_per_s": self.bytes_per_s,
                "ceiling_bytes_per_s": self.ceiling_bytes_per_s, "tensor_bytes": self.tensor_bytes,
                "wire_bytes": self.wire_bytes, "seconds": self.seconds, "baud": self.baud, "loads": self.loads}


def transfer_efficiency(client: DutClient, data: bytes, loads: int = 5) -> TransferEfficiency:
    """Load ``data`` ``loads`` times through an open client and total the tensor bytes, wire bytes and time."""
    stats = [client.load(data) for _ in range(loads)]
    return TransferEfficiency(tensor_bytes=sum(s.tensor_bytes for s in stats),
                              wire_bytes=sum(s.wire_bytes for s in stats),
                              seconds=sum(s.seconds for s in stats), baud=client.link.baud, loads=loads)
