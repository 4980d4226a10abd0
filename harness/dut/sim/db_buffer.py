"""The firmware's input buffer, filled and shown by ``db`` commands as the reference ``ee_buffer_parse`` does."""

from __future__ import annotations

from harness.dut.sim.wire import atoi

MAX_DB_INPUT_SIZE = 96 * 96 * 3  # MAX_DB_INPUT_SIZE of the reference submitter_implemented.h
PRINT_BYTES_PER_LINE = 8  # ee_buffer_parse prints 8 bytes per m-buffer line
_HEX = frozenset("0123456789abcdefABCDEF")


class DbBuffer:
    """``db load N``, ``db <hex>``, ``db print [N] [off]``: each returns the lines the firmware prints."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.loaded = 0

    def clear(self) -> None:
        self.data, self.loaded = bytearray(), 0

    def command(self, args: list[str]) -> list[str]:
        """The arguments after ``db``."""
        if not args:
            return ["e-[Command 'db' requires a subcommand]"]
        subcommand = {"load": self._load, "print": self._print}.get(args[0])
        return self._hex(args[0]) if subcommand is None else subcommand(args[1:])

    def _load(self, args: list[str]) -> list[str]:
        if not args:
            return ["e-[Command 'db load' requires the # of bytes]"]
        size = atoi(args[0])
        if size == 0:
            return ["e-[Command 'db load' must be >0 bytes]"]
        if not 0 < size <= MAX_DB_INPUT_SIZE:
            return [f"e-[Supplied buffer size {size} exceeds maximum of {MAX_DB_INPUT_SIZE}]"]
        self.data, self.loaded = bytearray(size), 0
        return [f"m-[Expecting {size} bytes]"]

    def _hex(self, digits: str) -> list[str]:
        if len(digits) % 2:
            return ["e-[Insufficent number of hex digits]"]  # sic: the reference firmware's spelling
        if self.loaded >= len(self.data):
            return [f"e-[Buffer full: {self.loaded} of {len(self.data)} bytes loaded; send 'db load N']"]
        for i in range(0, len(digits), 2):
            pair = digits[i:i + 2]
            if not _HEX.issuperset(pair):
                return [f"e-[Invalid hex digit '{pair}']"]  # the pairs before it stay stored, as in the reference
            self.data[self.loaded] = int(pair, 16)
            self.loaded += 1
            if self.loaded == len(self.data):
                return ["m-load-done"]  # the reference disregards the remaining digits
        return []

    def _print(self, args: list[str]) -> list[str]:
        """N bytes from ``off`` (default: the whole buffer, as the reference prints), 8 per ``m-buffer-`` line."""
        offset = max(atoi(args[1]), 0) if len(args) > 1 else 0
        count = max(atoi(args[0]), 0) if args else len(self.data)
        chunk = bytes(self.data[offset:offset + count])
        lines = ["m-buffer-" + "-".join(f"{b:02x}" for b in chunk[i:i + PRINT_BYTES_PER_LINE])
                 for i in range(0, len(chunk), PRINT_BYTES_PER_LINE)]
        if len(chunk) % PRINT_BYTES_PER_LINE:
            lines.append("")  # the reference prints one more CR/LF after a short last line
        return lines
