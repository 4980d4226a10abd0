"""``harness sim-dut``: serve a simulated MLPerf Tiny DUT on a socket or pseudo terminal until Ctrl-C."""

from __future__ import annotations

import logging
import signal
import tempfile
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
@click.option("--board", is_flag=True,
              help="Serve the MLPerf Tiny streaming wake-word (sww01) pair instead: an enhanced interface board that "
                   "plays WAVs from --sd-card into a DUT running the wake-word model on every frame.")
@click.option("--sd-card", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --board: the folder standing in for the board's SD card (default: a new empty folder).")
@click.option("--cutoff", type=click.FloatRange(0, 1), default=None,
              help="With --board: the DUT's detection threshold instead of the model entry's decision cutoff.")
@targets_dir_option
def command(target_name: str, model_name: str, listen: str, mode: str, io_manager: bool, baud: int | None,
            fault_spec: str, seed: int, stack: str | None, model_id: str | None, board: bool, sd_card: Path | None,
            cutoff: float | None, targets_dirs: tuple[Path, ...]) -> None:
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

    \b
    With --board (sww01 flow), it prints 'board: URL' (the interface board: name%, ls%, play F%,
    record_detections%, print_detections%, print_dutycycle%, dut <cmd>%), 'dut: URL' (the DUT's own
    UART: name%, profile%, start%, stop%), 'wiring: URL' (its power draw for --monitor sim:URL) and
    'sd-card: DIR'. A play runs in simulated time: detections and duty-cycle edges are stamped from the
    cost model's per-frame latency, so a 20-minute stream takes as long as the model takes to run over it.
    """
    plan = FaultPlan.parse(fault_spec)
    if board:
        _serve_board(target_name, model_name, listen, plan, stack, sd_card, cutoff, targets_dirs)
        return
    firmware = SimulatedFirmware(targets(targets_dirs).get(target_name), models().get(model_name), mode=mode, seed=seed,
                                 stack=stack, model_id=model_id)
    _log_to_stderr()
    server = SimDutServer(firmware, listen=listen, faults=plan, baud=baud, io_manager=io_manager).start()
    click.echo(f"dut: {server.url}")
    click.echo(f"wiring: {server.wiring_url}")
    try:
        _wait_for_stop()
    finally:
        server.stop()
        click.echo(f"sim-dut stopped; faults injected: {len(server.fault_log.events())}", err=True)


def _serve_board(target_name: str, model_name: str, listen: str, plan: FaultPlan, stack: str | None,
                 sd_card: Path | None, cutoff: float | None, targets_dirs: tuple[Path, ...]) -> None:
    from harness.evaluation.sww_device import SimSwwRig  # deferred: loads the runtime

    entry, target = models().get(model_name), targets(targets_dirs).get(target_name)
    card = sd_card or Path(tempfile.mkdtemp(prefix="harness-sd-card-"))
    try:
        rig = SimSwwRig(entry, target, card, stack=stack, cutoff=cutoff, faults=plan, listen=listen)
    except Exception:
        if sd_card is None:
            card.rmdir()
        raise
    _log_to_stderr("harness.dut.sww")
    rig.start()
    click.echo(f"board: {rig.board_url}")
    click.echo(f"dut: {rig.dut_url}")
    click.echo(f"wiring: {rig.wiring_url}")
    click.echo(f"sd-card: {card}")
    try:
        _wait_for_stop()
    finally:
        rig.stop()
        if sd_card is None and not any(card.iterdir()):
            card.rmdir()  # the folder this command made, left empty
        click.echo(f"sim-dut stopped; faults injected: {len(rig.board_server.fault_log.events())}", err=True)


def _wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM."""
    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _log_to_stderr(name: str = "harness.dut.sim") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
