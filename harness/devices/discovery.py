"""USB discovery on a bench: serial ports with their VID:PID, matched to known DUT probes, monitors and IO managers."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import serial
from serial.tools import list_ports

from harness.core.errors import DeviceError
from harness.dut.sww import wire as sww_wire


@dataclass(frozen=True)
class KnownUsb:
    """A USB identity seen on lab benches; ``pid`` None matches every product of the vendor."""

    vid: int
    pid: int | None
    name: str
    role: str  # what the port is for on a bench: dut, monitor, io-manager, usb-uart
    source: str


_STLINK = "stlink-org/stlink inc/stlink.h (STLINK_USB_PID_* defines)"
KNOWN: tuple[KnownUsb, ...] = (
    KnownUsb(0x0483, 0x3748, "ST-LINK/V2", "dut", _STLINK),
    KnownUsb(0x0483, 0x374B, "ST-LINK/V2-1 (Nucleo/Discovery VCP: the DUT's UART)", "dut", _STLINK),
    KnownUsb(0x0483, 0x3752, "ST-LINK/V2-1", "dut", _STLINK),
    KnownUsb(0x0483, 0x374E, "ST-LINK/V3E (Nucleo-U5/H7 VCP: the DUT's UART; or the MLPerf Tiny enhanced interface "
             "board STM32H573I-DK, which shares this VID:PID: --probe asks its name)", "dut",
             f"{_STLINK}; mlcommons/tiny benchmark/runner/devices_sww.yaml: stm32h573i-dk usb 0x0483: 0x374E"),
    KnownUsb(0x0483, 0x374F, "ST-LINK/V3SET", "dut", _STLINK),
    KnownUsb(0x0483, 0x3753, "ST-LINK/V3 with two VCPs", "dut", _STLINK),
    KnownUsb(0x0483, 0x3754, "ST-LINK/V3 without mass storage (e.g. STM32H573I-DK, an MLPerf Tiny IO manager)",
             "dut", "stlink-org/stlink inc/stlink.h STLINK_USB_PID_STLINK_V3_NO_MSD_PID"),
    KnownUsb(0x0483, 0x5740, "STM32 USB virtual COM port (X-NUCLEO-LPM01A PowerShield, or any STM32 CDC firmware)",
             "monitor", "ST USB device library usbd_cdc_desc.h: USBD_VID 0x0483, USBD_PID 0x5740 'STM32 Virtual "
             "ComPort'; the LPM01A match is an assumption to confirm with its 'htc' reply"),
    KnownUsb(0x1915, 0xC00A, "Nordic Power Profiler Kit II", "monitor",
             "lsusb on a PPK2: 'ID 1915:c00a Nordic Semiconductor ASA PPK2' (PPK2 firmware 1.2.x exposes two ports: "
             "the lower-numbered one streams samples)"),
    KnownUsb(0x1366, None, "SEGGER J-Link (on-board VCOM of Nordic and Silicon Labs kits: the DUT's UART)", "dut",
             "SEGGER J-Link udev rules: idVendor 1366 (idProduct 0101-0108, 1015, ...)"),
    KnownUsb(0x2341, 0x0043, "Arduino Uno R3 (the MLPerf Tiny energy-mode IO manager)", "io-manager",
             "arduino/ArduinoCore-avr boards.txt: uno.vid.0=0x2341, uno.pid.0=0x0043"),
    KnownUsb(0x303A, 0x1001, "Espressif USB Serial/JTAG (ESP32-S3 native USB)", "dut",
             "ESP-IDF docs, USB Serial/JTAG Controller: VID 0x303A, PID 0x1001"),
    KnownUsb(0x10C4, 0xEA60, "Silicon Labs CP210x USB-UART (ESP32 DevKits, adapters)", "usb-uart",
             "Linux drivers/usb/serial/cp210x.c: USB_DEVICE(0x10C4, 0xEA60) 'Silicon Labs factory default'"),
    KnownUsb(0x1A86, 0x7523, "WCH CH340 USB-UART", "usb-uart",
             "Linux drivers/usb/serial/ch341.c: USB_DEVICE(0x1a86, 0x7523)"),
    KnownUsb(0x0403, 0x6001, "FTDI FT232R USB-UART", "usb-uart",
             "Linux drivers/usb/serial/ftdi_sio_ids.h: FTDI_VID 0x0403, FTDI_8U232AM_PID 0x6001"),
)

HINTS = {
    "dut": "harness bench-device --port {port} --model M",
    "interface-board": "harness bench-device --mode stream --board {port} --streams DIR",
    "monitor": "--monitor <kind>:{port} (lpm01a or ppk2)",
    "io-manager": "harness bench-device --mode energy --port {port} --monitor ...",
    "usb-uart": "harness bench-device --port {port} --model M (if the DUT's UART is wired to it)",
}


def match(vid: int | None, pid: int | None) -> KnownUsb | None:
    """The most specific known identity for a VID:PID (exact product first, then the vendor)."""
    if vid is None:
        return None
    exact = [k for k in KNOWN if k.vid == vid and k.pid == pid]
    vendor = [k for k in KNOWN if k.vid == vid and k.pid is None]
    return (exact or vendor or [None])[0]


INTERFACE_BOARD = "MLPerf Tiny enhanced interface board (STM32H573I-DK)"
PROBE_TIMEOUT_S = 1.0


def ask_name(port: str, timeout_s: float) -> str:
    """What the port replies to ``name%`` at 115200 baud, up to ``m-ready`` or the timeout ('' if nothing).

    Every MLPerf Tiny firmware answers ``name%`` (the interface board with its name, a DUT with ``m-name-dut-``),
    so asking changes no board's state. DeviceError if the port cannot be opened.
    """
    try:
        with serial.serial_for_url(port, baudrate=sww_wire.BAUD, timeout=0.05) as link:
            link.write(b"name" + sww_wire.TERMINATOR.encode())
            reply = bytearray()
            deadline = time.monotonic() + timeout_s
            while sww_wire.END.encode() not in reply and time.monotonic() < deadline:
                reply += link.read(link.in_waiting or 1)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceError(f"cannot ask {port} its name: {exc}",
                          hint="another program may hold the port (close serial terminals), or it needs permissions "
                               "(the dialout group)") from None
    return reply.decode("latin-1")


def identify(port: str, timeout_s: float) -> tuple[str, str, str]:
    """(match, role, what the probe saw) for an ST-LINK port, from its reply to ``name%``; role '' when unknown."""
    try:
        reply = ask_name(port, timeout_s)
    except DeviceError as exc:
        return "", "", exc.message
    lines = [line.strip() for line in reply.splitlines() if line.strip()]
    said = " | ".join(lines[:3]) or f"no reply to name% within {timeout_s:g} s"
    if any(sww_wire.BOARD_NAME in line for line in lines):
        return INTERFACE_BOARD, "interface-board", said
    dut = next((line for line in lines if line.startswith("m-name-dut-[")), None)
    if dut is not None:
        return f"MLPerf Tiny DUT firmware ({dut[len('m-name-dut-['):].rstrip(']')})", "dut", said
    return "", "", said


def _probed(known: KnownUsb | None, vid: int | None) -> bool:
    """Only ST-LINK virtual COM ports are asked: the interface board hides behind one."""
    return known is not None and vid == 0x0483 and known.role == "dut"


def describe_ports(probe: bool = False, timeout_s: float | None = None) -> list[dict[str, Any]]:
    """Serial ports matched by VID:PID; with ``probe``, ST-LINK ports are also asked ``name%`` to tell the
    MLPerf Tiny interface board from a Nucleo DUT (they share VID:PIDs)."""
    timeout_s = PROBE_TIMEOUT_S if timeout_s is None else timeout_s
    rows = []
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        known = match(port.vid, port.pid)
        name, role, said = (identify(port.device, timeout_s) if probe and _probed(known, port.vid) else ("", "", ""))
        if role:
            known = KnownUsb(port.vid or 0, port.pid, name, role, f"its reply to name%: {said}")
        rows.append({
            "port": port.device,
            "vid_pid": f"{port.vid:04x}:{port.pid:04x}" if port.vid is not None else "",
            "serial_number": port.serial_number or "",
            "description": port.description or "",
            "match": known.name if known else "",
            "role": known.role if known else "",
            "use": HINTS[known.role].format(port=port.device) if known else "",
            "source": known.source if known else "",
            "probe": said,
        })
    return rows


def joulescopes() -> list[dict[str, Any]]:
    """Joulescopes are not serial ports; the optional ``joulescope`` package finds them over USB."""
    try:
        import joulescope  # type: ignore[import-not-found]
    except ImportError:
        return []
    return [{"port": str(d), "vid_pid": "", "serial_number": "", "description": "Joulescope", "match": "Joulescope",
             "role": "monitor", "use": "--monitor joulescope", "source": "joulescope.scan()"}
            for d in joulescope.scan()]


def profile_links(profiles: list[Any], probe: bool = False, timeout_s: float = 1.0) -> list[dict[str, Any]]:
    """Target profiles whose link is a network board (``ssh://``), with whether its port answers when ``probe``.

    Probing opens one TCP connection to the host the profile names, and nothing else.
    """
    rows = []
    for profile in profiles:
        parts = urlsplit(profile.link.url)
        if parts.scheme != "ssh":
            continue
        reachable = ""
        if probe:
            try:
                socket.create_connection((parts.hostname or "", parts.port or 22), timeout=timeout_s).close()
                reachable = "yes"
            except OSError as exc:
                reachable = f"no ({exc.strerror or exc})"
        rows.append({"port": profile.link.url.split("?")[0], "vid_pid": "", "serial_number": "",
                     "description": f"target profile {profile.name}", "match": "Linux board over SSH",
                     "role": "board", "use": f"harness run --target {profile.name}", "source": profile.source_file,
                     "reachable": reachable})
    return rows


def adb_devices(timeout_s: float = 1.0) -> tuple[list[dict[str, Any]], str | None]:
    """Phones the adb server lists (``adb devices -l``), and a note when there is no server to ask.

    The server is the one ``adb`` uses (ANDROID_ADB_SERVER_HOST / _PORT, default 127.0.0.1:5037). A closed
    port is reported, not fixed: the harness never starts an adb server.
    """
    from harness.devices.adb.address import default_server
    from harness.devices.adb.session import adbutils, server_listening

    host, port = default_server()
    if adbutils is None:
        return [], "adb phones are not listed: adbutils is not installed (pip install 'edge-harness[boards]')"
    if not server_listening(host, port, timeout_s):
        return [], f"no adb server at {host}:{port}, so no phones are listed (start one with `adb start-server`)"
    try:
        listed = adbutils.AdbClient(host=host, port=port, socket_timeout=timeout_s * 5).list(extended=True)
    except (adbutils.AdbError, OSError, EOFError) as e:
        return [], f"the adb server at {host}:{port} did not list its devices: {e}"
    rows = []
    for info in listed:
        tags = getattr(info, "tags", None) or {}
        model = tags.get("model", "").replace("_", " ")
        online = info.state == "device"
        rows.append({"port": f"adb://{info.serial}", "vid_pid": "", "serial_number": info.serial,
                     "description": f"{model} ({info.state})" if model else info.state,
                     "match": "Android phone over adb", "role": "phone",
                     "use": f"harness run --target TARGET --device-url adb://{info.serial}?benchmark_model=PATH"
                     if online else ("accept the USB debugging prompt on the phone" if info.state == "unauthorized"
                                     else f"the phone is {info.state}"),
                     "source": f"adb server {host}:{port}"})
    return rows, None
