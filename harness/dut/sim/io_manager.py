"""The IO manager of an energy-mode bench, simulated in front of a simulated DUT.

In energy mode the host talks to an interface board, which forwards ``dut <cmd>%`` to the DUT and
answers ``m-dut-passthrough(<cmd>)``, ``m-ready``, then the DUT's reply lines prefixed ``[dut]: ``
(mlcommons/tiny benchmark/runner README transcript and interface InterfaceMenu::Passthrough). Its
command buffer is smaller than the DUT's, which is why ``db`` chunks shrink to 26 bytes behind it.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.dut.sim.firmware import SimulatedFirmware
from harness.dut.sim.wire import READY, CommandBuffer, Reply

DUT_PREFIX = "[dut]: "
# Keeps "dut db " + 26 bytes of hex (59 characters); a 27-byte chunk (61) is cut to an odd digit count,
# which the DUT rejects. A modelling choice that reproduces the documented 26-byte limit.
CMD_SIZE = 60
NAME = "edge-harness simulated IO manager"


class IOManager:
    """Plays the interface board: its own ``name`` command, ``dut`` pass-through, unknown commands rejected.

    Every line the DUT prints reaches the host prefixed ``[dut]: ``, also its banner after a reset.
    """

    def __init__(self, dut: SimulatedFirmware) -> None:
        self.dut = dut
        self._cmd = CommandBuffer(CMD_SIZE)
        self._commands: dict[str, Callable[[str], list[Reply]]] = {"name": self._name, "dut": self._passthrough}

    def boot(self) -> list[Reply]:
        """Power on both boards: the IO manager's ``m-ready``, then the DUT's banner, relayed."""
        self._cmd.clear()
        return self._lines(READY) + self._relay(self.dut.boot())

    def crash(self, data: bytes) -> list[Reply]:
        """The DUT resets on receiving a command: the IO manager's own lines, then the DUT's banner, relayed."""
        replies: list[Reply] = []
        for command in self._cmd.push(data):
            word, _, rest = command.partition(" ")
            own = self._ack(rest) if self._commands.get(word) == self._passthrough else self.handle(command)
            replies += own + self._relay(self.dut.reset())
        return replies

    def feed(self, data: bytes) -> list[Reply]:
        return [reply for command in self._cmd.push(data) for reply in self.handle(command)]

    def handle(self, command: str) -> list[Reply]:
        word, _, rest = command.partition(" ")
        handler = self._commands.get(word)
        if handler is None:
            return self._lines(f"e-[Unknown command: {word}]", READY)
        return handler(rest)

    def _name(self, rest: str) -> list[Reply]:
        return self._lines(NAME, READY)

    def _passthrough(self, rest: str) -> list[Reply]:
        return self._ack(rest) + self._relay(self.dut.handle(rest))

    def _ack(self, rest: str) -> list[Reply]:
        return self._lines(f"m-dut-passthrough({rest})", READY)

    def _relay(self, replies: list[Reply]) -> list[Reply]:
        return [Reply(DUT_PREFIX + r.text, r.at_s) for r in replies]

    def _lines(self, *texts: str) -> list[Reply]:
        return [Reply(text, self.dut.now_s) for text in texts]
