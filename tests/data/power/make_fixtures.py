"""Writes the power-monitor fixtures in this folder, in each instrument's own data format.

Run from the repository root: ``.venv/bin/python tests/data/power/make_fixtures.py``. Each fixture is built
from explicit field values here (not by the harness code under test), so tests can compute the expected
currents, events and energies by hand from the numbers below.

- ``lpm01a_energy_1k.txt``: an LPM01A ``ascii_dec`` acquisition after ``start`` (output energy, freq 1k,
  volt 1800m): 2500 sample lines, ``TimeStamp`` lines once a second, two D7 ``event`` lines per window,
  ``Acquisition completed``. Idle 1 mW = 1 uJ per 1 ms sample (``1000-09``); window 1 (samples 500-999)
  18 mW (``1800-08``); window 2 (samples 1500-1999) 9 mW (``9000-09``).
- ``ppk2_stream.bin`` + ``ppk2_modifiers.json``: 1000 PPK2 samples as little-endian 32-bit words (ADC in
  bits 0-13, range in 14-16, logic D0-D7 in 24-31, as ppk2-api 0.9.2 decodes them) and the calibration
  ppk2-api would hold in ``PPK2_API.modifiers``. D0 idles high and is pulsed low for 10 samples at 300
  and at 700; samples 0-499 are range 1 with ADC 2000, samples 500-999 range 2 with ADC 3000.
- ``js220_blocks.npz``: two ``StreamBuffer.samples_get`` results (joulescope 1.x) for sample ids
  1000-1999 and 2000-2999 at 1 MS/s: current 2 mA, except 5 mA for ids 1200-1799; voltage 1.8 V; GPI0
  (``current_lsb``) high with falling edges at ids 1200 and 2000 (the second exactly on the block boundary).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def lpm01a() -> None:
    lines = []
    events = 0
    for i in range(2500):
        if i and i % 1000 == 0:
            lines.append(f"TimeStamp: {i // 1000:03d}s 000ms, buff 00%")
        if i in (500, 1000, 1500, 2000):
            events += 1
            lines.append(f"event {events} fal")
        if 500 <= i < 1000:
            lines.append("1800-08")
        elif 1500 <= i < 2000:
            lines.append("9000-09")
        else:
            lines.append("1000-09")
    lines.append("Acquisition completed")
    (HERE / "lpm01a_energy_1k.txt").write_bytes("".join(f"{line}\r\n" for line in lines).encode("ascii"))


PPK2_MODIFIERS = {
    "Calibrated": None,
    "R": {"0": 1031.64, "1": 101.65, "2": 10.15, "3": 0.94, "4": 0.043},
    "GS": {"0": 0.0, "1": 0.0, "2": 0.0, "3": 0.0, "4": 0.0},
    "GI": {"0": 1.0, "1": 1.02, "2": 0.98, "3": 1.0, "4": 1.0},
    "O": {"0": 0.0, "1": 8.0, "2": -4.0, "3": 0.0, "4": 0.0},
    "S": {"0": 0.0, "1": 0.0, "2": 0.0, "3": 0.0, "4": 0.0},
    "I": {"0": 0.0, "1": 1e-7, "2": 0.0, "3": 0.0, "4": 0.0},
    "UG": {"0": 1.0, "1": 1.0, "2": 1.0, "3": 1.0, "4": 1.0},
    "HW": None,
    "IA": None,
}


def ppk2() -> None:
    words = []
    for i in range(1000):
        rng, adc = (1, 2000) if i < 500 else (2, 3000)
        d0 = 0 if (300 <= i < 310 or 700 <= i < 710) else 1
        logic = d0 | 0b1000_0000  # D7 held high too: only D0 is the timestamp
        words.append(adc | (rng << 14) | (logic << 24))
    (HERE / "ppk2_stream.bin").write_bytes(np.array(words, dtype="<u4").tobytes())
    (HERE / "ppk2_modifiers.json").write_text(json.dumps(PPK2_MODIFIERS, indent=1) + "\n")


def js220() -> None:
    ids = np.arange(1000, 3000)
    current = np.where((ids >= 1200) & (ids < 1800), 5e-3, 2e-3).astype(np.float32)
    gpi = np.ones(len(ids), dtype=np.uint8)
    gpi[(ids >= 1200) & (ids < 1210)] = 0
    gpi[(ids >= 2000) & (ids < 2010)] = 0
    voltage = np.full(len(ids), 1.8, dtype=np.float32)
    arrays = {}
    for k, (a, b) in enumerate([(1000, 2000), (2000, 3000)]):
        sl = slice(a - 1000, b - 1000)
        arrays |= {f"b{k}_range": np.array([a, b]), f"b{k}_current": current[sl], f"b{k}_voltage": voltage[sl],
                   f"b{k}_gpi": gpi[sl]}
    np.savez(HERE / "js220_blocks.npz", rate=np.array(1e6), **arrays)


if __name__ == "__main__":
    lpm01a()
    ppk2()
    js220()
