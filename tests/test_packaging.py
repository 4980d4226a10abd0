"""The built wheel works outside the checkout: data ships inside it, results land under the working directory."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_installed_wheel_runs_from_an_empty_folder(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
                   check=True, capture_output=True)
    (wheel,) = wheels.glob("edge_harness-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True)
    # the dependencies come from this venv (no network); its editable hook is not processed from a plain path
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "project-deps.pth").write_text("\n".join(sorted(ours)) + "\n")

    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "PYTHON"))}
    env["HARNESS_CACHE"] = str(tmp_path / "cache")
    where = subprocess.run([str(python), "-c", "import harness; print(harness.__file__)"], cwd=work, env=env,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(venv)

    done = subprocess.run([str(venv / "bin" / "harness"), "run", "--no-corpus", "--model", "mww-okay-nabu",
                           "--target", "mcu", "--runs", "20"], cwd=work, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    assert run_dir.parent == work / "results"
    assert (work / "results" / "ledger.jsonl").is_file()
    with (run_dir / "efficiency.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["target"]) for r in rows] == [("mww-okay-nabu", "mcu")]
    assert (run_dir / "signoff.json").is_file()
    assert "[" in done.stderr and "run adhoc:" in done.stderr  # plain progress lines: stderr is not a terminal
