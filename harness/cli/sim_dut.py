"""``harness sim-dut``: serve a simulated MLPerf Tiny DUT on a socket or pseudo terminal until Ctrl-C."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import click

from harness.cli.common import SEED, models, targets, targets_dir_option
from harness.dut.sim.faults import EXAMPLE, GRAMMAR, FaultPlan
from harness.dut.sim.firmware import MODES, SimulatedFirmware
from harness.dut.sim.model import MODEL_IDS
from harness.dut.sim.server import SimDutServer

_EPILOG = "\b\nFault spec (--faults), comma-separated key=value:\n" + "\n".join(
    f"  {key}={text}" for key, text in GRAMMAR.items())


@click.command("sim-dut", epilog=_EPILOG)
@click.option("--target", "target_name", required=True, help="Target profile to simulate (name or profile .yaml path).")
@click.option("--model", "model_name", required=True, help="Registered model name or a .tflite/.onnx path.")
@click.option("--listen", default="socket://127.0.0.1:0", show_default=True,
              help="socket://HOST:PORT (port 0: a free port) or 'pty' for a /dev/pts/N serial device.")
@click.option("--mode", type=click.Choice(MODES), default="performance", show_default=True,
              help="Firmware timestamp mode: m-lap-us lines, or timestamp-pin edges on the wiring.")
@click.option("--io-manager", is_flag=True, help="Also play the IO manager: 'dut <cmd>%' pass-through.")
@click.option("--baud", type=click.IntRange(min=1), default=None,
              help="Pace the link like a UART 8N1 at this rate (e.g. 115200). Default: unpaced.")
@click.option("--faults", "fault_spec", default="", help=f"Fault injection, e.g. '{EXAMPLE}'.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the simulated latency jitter.")
@click.option("--stack", default=None, help="Software stack; defaults to the target's default_stack.")
@click.option("--model-id", type=click.Choice(MODEL_IDS), default=None,
              help="m-model-[...] to report; default follows the model's task and input shape.")
@targets_dir_option
def command(target_name: str, model_name: str, listen: str, mode: str, io_manager: bool, baud: int | None,
            fault_spec: str, seed: int, stack: str | None, model_id: str | None,
            targets_dirs: tuple[Path, ...]) -> None:
    """Serve a simulated DUT speaking the MLPerf Tiny serial protocol, byte for byte.

    The model runs in the real runtime (TFLite Micro on MCU-class targets); m-lap-us advances by
    the cost model's predicted latency with seeded jitter. Prints two lines on stdout, the DUT's
    serial URL and the wiring URL (power and timestamp-pin events as '<t_us> P <mW>' / '<t_us> E'
    lines), logs every command to stderr, and runs until Ctrl-C.

    \b
    Example session:
      $ harness sim-dut --target mcu --model mlperf-dscnn-kws
      dut: socket://127.0.0.1:40123
      wiring: socket://127.0.0.1:40124
    then, from another shell (commands end in '%', no newline):
      python -m serial.tools.miniterm socket://127.0.0.1:40123      # type: name%  profile%
      python -c "import serial; s = serial.serial_for_url('socket://127.0.0.1:40123', timeout=1); \\
        s.write(b'name%'); print(s.read(200))"
    With --listen pty, any serial terminal opens the printed /dev/pts/N path.
    """
    plan = FaultPlan.parse(fault_spec)
    firmware = SimulatedFirmware(targets(targets_dirs).get(target_name), models().get(model_name), mode=mode, seed=seed,
                                 stack=stack, model_id=model_id)
    _log_to_stderr()
    server = SimDutServer(firmware, listen=listen, faults=plan, baud=baud, io_manager=io_manager).start()
    click.echo(f"dut: {server.url}")
    click.echo(f"wiring: {server.wiring_url}")
    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
        click.echo(f"sim-dut stopped; faults injected: {len(server.fault_log.events())}", err=True)


def _log_to_stderr() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("harness.dut.sim")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
