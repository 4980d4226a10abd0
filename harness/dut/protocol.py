"""The MLPerf Tiny DUT serial protocol as pure functions: command bytes out, typed messages in.

Facts from the MLPerf Tiny firmware API (mlcommons/tiny benchmark/api; docs/sources.md#lab-protocols):
commands are ASCII ending in ``%`` (no CR/LF), replies are
``\\r\\n`` lines ending with ``m-ready``, errors start ``e-[``, and input tensors travel as hex in
``db`` chunks of at most 31 bytes (26 behind an IO manager, which prefixes relayed lines ``[dut]: ``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from harness.core.errors import ConfigError

TERMINATOR = b"%"
EOL = b"\r\n"
READY = "m-ready"
DUT_PREFIX = "[dut]: "
CHUNK_BYTES = 31
CHUNK_BYTES_IO_MANAGER = 26
COMMAND_BUFFER_BYTES = 80  # the reference firmware's command buffer, terminator included
BITS_PER_BYTE_8N1 = 10  # start bit + 8 data bits + stop bit


def encode(command: str) -> bytes:
    """The bytes that send ``command``: ASCII text then ``%``, with no CR/LF (the DUT would keep them)."""
    if not command or not command.isascii() or any(c in command for c in "%\r\n"):
        raise ConfigError(f"DUT command {command!r} must be non-empty ASCII without '%', CR or LF")
    data = command.encode("ascii") + TERMINATOR
    if len(data) > COMMAND_BUFFER_BYTES:
        raise ConfigError(f"DUT command {command[:20]!r}... is {len(data)} bytes with '%'; the firmware buffer "
                          f"holds {COMMAND_BUFFER_BYTES}", hint="use smaller db chunks")
    return data


def passthrough(command: str) -> str:
    """The IO manager command that forwards ``command`` to the DUT behind it."""
    return f"dut {command}"


def load_commands(data: bytes, chunk: int = CHUNK_BYTES) -> list[str]:
    """``db load N`` followed by ``db <hex>`` commands of at most ``chunk`` bytes each."""
    if not data:
        raise ConfigError("a DUT input must hold at least one byte")
    if not 1 <= chunk <= CHUNK_BYTES:
        raise ConfigError(f"db chunk size {chunk} is outside 1..{CHUNK_BYTES}")
    return [f"db load {len(data)}"] + [f"db {data[i:i + chunk].hex()}" for i in range(0, len(data), chunk)]


def infer_command(n: int, warmup: int) -> str:
    """``infer N W``: W untimed warm-up inferences, then N timed ones (W is always sent; firmware defaults differ)."""
    if n < 1 or warmup < 0:
        raise ConfigError(f"infer needs N >= 1 and W >= 0, got N={n}, W={warmup}")
    return f"infer {n} {warmup}"


def wire_seconds(n_bytes: int, baud: int) -> float:
    """Time ``n_bytes`` occupy a UART at ``baud`` with 8N1 framing."""
    return n_bytes * BITS_PER_BYTE_8N1 / baud


def reference_load_wire_bytes(n_bytes: int, chunk: int = CHUNK_BYTES) -> int:
    """Bytes on the wire, both directions, to load ``n_bytes`` into reference firmware.

    Each command is followed by its reply lines up to ``m-ready``: ``m-[Expecting N bytes]`` for
    ``db load``, nothing else for a chunk, and ``m-load-done`` after the last chunk.
    """
    ready = len(READY) + len(EOL)
    sent = sum(len(encode(c)) for c in load_commands(bytes(n_bytes), chunk))
    expecting = len(f"m-[Expecting {n_bytes} bytes]") + len(EOL)
    n_chunks = -(-n_bytes // chunk)
    received = expecting + ready + n_chunks * ready + len("m-load-done") + len(EOL)
    return sent + received


# ---- messages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A reply line the harness understands; ``text`` is the line without CR/LF or ``[dut]: ``."""

    text: str


@dataclass(frozen=True)
class Ready(Message):
    pass


@dataclass(frozen=True)
class Boot(Message):
    """A boot banner line (``m-timestamp-mode-<mode>`` or ``m-init-done``): the DUT has (re)started."""

    mode: str | None


@dataclass(frozen=True)
class Name(Message):
    name: str


@dataclass(frozen=True)
class Profile(Message):
    firmware: str


@dataclass(frozen=True)
class ModelId(Message):
    model: str


@dataclass(frozen=True)
class Expecting(Message):
    n_bytes: int


@dataclass(frozen=True)
class LoadDone(Message):
    pass


@dataclass(frozen=True)
class Lap(Message):
    us: int


@dataclass(frozen=True)
class InferStep(Message):
    """``m-warmup-start-W``, ``m-warmup-done``, ``m-infer-start-N`` or ``m-infer-done``."""

    step: str
    count: int | None


@dataclass(frozen=True)
class Results(Message):
    values: tuple[float, ...]


@dataclass(frozen=True)
class Buffer(Message):
    data: bytes


@dataclass(frozen=True)
class DutError(Message):
    reason: str


@dataclass(frozen=True)
class Passthrough(Message):
    """The IO manager's acknowledgement that it forwarded ``command`` to the DUT."""

    command: str


@dataclass(frozen=True)
class Noise(Message):
    """Anything else: debug prints, garbage after a dropped byte, other firmware chatter."""


@dataclass(frozen=True)
class Malformed(Message):
    """A line that starts as a measurement (``m-results-``, ``m-lap-us-``) but breaks its grammar: corruption.

    It is never dropped as noise, since a result that silently went missing reads as a device that printed none.
    """


NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
RESULTS = re.compile(rf"m-results-\[((?:{NUMBER})(?:,{NUMBER})*)?\]")
LAP = re.compile(r"m-lap-us-(\d{1,10})")
MEASUREMENT_PREFIXES = ("m-results-", "m-lap-us-")
NOISE_PREFIX = "["
REPLY_TOKEN = re.compile(r"m-|e-\[")
READY_SIMILAR = 0.85  # difflib ratio of a garbled m-ready (one byte dropped or flipped: 0.92) to the real one


def _results(m: re.Match[str]) -> Message:
    return Results(m.string, tuple(float(v) for v in m.group(1).split(",")) if m.group(1) else ())


def _buffer(m: re.Match[str]) -> Message:
    try:
        return Buffer(m.string, bytes.fromhex(m.group(1).replace("-", "")))
    except ValueError:
        return Noise(m.string)


def _step(m: re.Match[str]) -> Message:
    return InferStep(m.string, m.group(1), int(m.group(2)) if m.group(2) else None)


_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Message]], ...] = (
    (re.compile(r"m-ready"), lambda m: Ready(m.string)),
    (re.compile(r"e-\[(.*)\]"), lambda m: DutError(m.string, m.group(1))),
    (LAP, lambda m: Lap(m.string, int(m.group(1)))),
    (RESULTS, _results),
    (re.compile(r"m-(warmup-start|warmup-done|infer-start|infer-done)(?:-(\d+))?"), _step),
    (re.compile(r"m-\[Expecting (\d+) bytes\]"), lambda m: Expecting(m.string, int(m.group(1)))),
    (re.compile(r"m-load-done"), lambda m: LoadDone(m.string)),
    (re.compile(r"m-name-dut-\[(.*)\]"), lambda m: Name(m.string, m.group(1))),
    (re.compile(r"m-profile-\[(.*)\]"), lambda m: Profile(m.string, m.group(1))),
    (re.compile(r"m-model-\[(.*)\]"), lambda m: ModelId(m.string, m.group(1))),
    (re.compile(r"m-buffer-((?:[0-9a-fA-F]{2}-?)*)"), _buffer),
    (re.compile(r"m-timestamp-mode-(\w+)"), lambda m: Boot(m.string, m.group(1))),
    (re.compile(r"m-init-done"), lambda m: Boot(m.string, None)),
    (re.compile(r"m-dut-passthrough\((.*)\)"), lambda m: Passthrough(m.string, m.group(1))),
)


def split_prefix(line: str) -> tuple[bool, str]:
    """``(relayed_from_dut, text)``: strips the IO manager's ``[dut]: `` prefix (also behind glued-on debug noise)."""
    if line.startswith(DUT_PREFIX):
        return True, line[len(DUT_PREFIX):]
    glued = line.find(DUT_PREFIX)
    if glued > 0 and line.startswith(NOISE_PREFIX):
        return True, line[glued + len(DUT_PREFIX):]
    return False, line


def parse_line(line: str) -> Message:
    """Classify one reply line (without CR/LF or prefix); unrecognised lines are :class:`Noise`.

    A measurement line that breaks its grammar is :class:`Malformed`. A debug print (firmware chatter
    starts with ``[``, e.g. ``[debug] ...``) whose line end was lost runs into the next reply line;
    protocol replies always start a line with ``m-`` or ``e-[``, so the first such token after the
    ``[`` prefix starts the reply that was glued on, and it is parsed from there rather than lost.
    """
    text = line.strip().strip("\x00")
    message = _classify(text)
    if isinstance(message, Noise) and text.startswith(NOISE_PREFIX):
        glued = REPLY_TOKEN.search(text, 1)
        if glued is not None:
            tail = _classify(text[glued.start():])
            if not isinstance(tail, Noise):
                return tail
    return message


def _classify(text: str) -> Message:
    for pattern, build in _PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            return build(match)
    if text.startswith(MEASUREMENT_PREFIXES):
        return Malformed(text)
    if _garbled_ready(text):
        return Ready(text)
    return Noise(text)


def _garbled_ready(text: str) -> bool:
    """``m-ready`` with one byte dropped or flipped: it still ends the reply (nothing else is that close to it).

    Waiting for a reply end that already came would cost a whole timeout; what the reply held is checked apart.
    """
    return abs(len(text) - len(READY)) <= 1 and difflib.SequenceMatcher(None, text, READY).ratio() >= READY_SIMILAR


def decode_line(raw: bytes) -> str:
    """A received line as text: CR, NUL and non-ASCII bytes (line noise) are dropped."""
    return raw.replace(b"\r", b"").replace(b"\x00", b"").decode("ascii", errors="ignore")
