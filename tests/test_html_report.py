"""report.html from a real tiny run: one self-contained file, the numbers it shows, and a render in headless Chromium.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: NUL-terminated JSON on file
descriptors 3 and 4), which needs no Python package and reports what ``--enable-logging`` cannot: the level of each
console message, uncaught exceptions, failed resource loads and every network request.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import re
import select
import shutil
import subprocess
import time
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib import image
from run_fixture import real_run

from harness.cli import _register
from harness.core.paths import models_dir
from harness.registry.models import ModelRegistry
from harness.reports.html.report import write_report

_register()
MODELS = ("oww-hey-jarvis",)  # its tiny-corpus detections differ by accent: a trade-off worth checking
CHROMIUM = "/usr/bin/chromium"
PNG = b"\x89PNG\r\n\x1a\n"
VIEWPORT = (1280, 1600)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return real_run(tmp_path_factory, MODELS, "report-results")


@pytest.fixture(scope="module")
def report(run) -> Path:
    return write_report(run, min_group_size=3)


class Tags(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> Tags:
    tags = Tags()
    tags.feed(path.read_text(encoding="utf-8"))
    return tags


def table_rows(html: str, css_class: str) -> list[list[str]]:
    table = re.search(rf'<table class="{css_class}">(.*?)</table>', html, flags=re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S)]
            for r in rows]


# --- the file ----------------------------------------------------------------------------------

def test_the_report_is_one_file_with_embedded_images_and_no_network_reference(report) -> None:
    tags = parse(report)
    images = [a["src"] for t, a in tags.tags if t == "img"]
    assert images and all(src.startswith("data:image/png;base64,") for src in images)
    assert all(base64.b64decode(src.split(",", 1)[1]).startswith(PNG) for src in images)
    for tag, attrs in tags.tags:
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            value = attrs.get(name, "")
            assert not re.match(r"\s*(https?:)?//", value), f"<{tag} {name}={value[:60]}> reaches the network"
            assert value == "" or value.startswith(("data:", "#")), f"<{tag} {name}={value[:60]}> is another file"
    assert not [t for t, _ in tags.tags if t in ("script", "iframe", "object", "embed")]
    captions = " ".join(tags.text)
    for section in ("device latency of every timed inference", "power over the measurement (SIMULATED",
                    "detection_rate by accent", "DET curves by noise", "fairness-accuracy trade-off"):
        assert section in captions


def test_efficiency_matrix_verdict_and_carbon_come_from_the_run(run, report) -> None:
    html = report.read_text()
    signoff = json.loads((run / "signoff.json").read_text())  # `harness run` ends with the sign-off
    assert re.search(rf'<span class="verdict \w+" id="verdict">{signoff["verdict"]}</span>', html)
    shown = len(re.findall(r'<td class="id">', html))
    assert shown == len(signoff["gates"])
    carbon = pd.read_csv(run / "carbon.csv")
    rows = re.search(r'<table id="carbon-table">(.*?)</table>', html, flags=re.S).group(1).count("<tr>") - 1
    assert rows == len(carbon)
    eff = pd.read_csv(run / "efficiency.csv")
    matrix = re.search(r'<table id="efficiency-matrix">(.*?)</table>', html, flags=re.S).group(1)
    for _, row in eff.iterrows():
        cell = re.search(rf"<th>{re.escape(row['model'])}</th>\s*<td class=\"(\w+)[ \"]", matrix)
        fits = bool(row["fits_latency"] and row["fits_power"] and row["fits_memory"])
        assert cell.group(1) == ("fit" if fits else "nofit")


def test_absent_signoff_and_carbon_are_said_plainly(run, tmp_path) -> None:
    bare = tmp_path / run.name
    shutil.copytree(run, bare, ignore=shutil.ignore_patterns("eval", "signoff.*", "carbon.*", "report.html"))
    html = write_report(bare, min_group_size=3).read_text()
    assert "No sign-off in this run: signoff.json is absent" in html
    assert "Not in this run: carbon.csv / carbon.json are absent." in html


def test_tradeoff_at_the_cutoff_is_the_reported_operating_point(run, report) -> None:
    """The sweep through the stored scores must land, at each model's cutoff, on the decisions of the evaluation."""
    html = report.read_text()
    predictions = pd.read_parquet(run / "raw" / "predictions.parquet")
    sections = re.split(r'<h2 id="model-', html)[1:]
    assert len(sections) == len(MODELS)
    for section in sections:
        model = section.split('"', 1)[0]
        positives = predictions[(predictions["model"] == model) & predictions["is_positive"]]
        frr = 100 * (~positives["detected"]).sum() / len(positives)
        per_accent = positives.groupby("accent").filter(lambda g: len(g) >= 3).groupby("accent")["detected"]
        accent_frr = 100 * (1 - per_accent.mean())
        rows = {r[0]: r for r in table_rows(section, "tradeoff")}
        assert float(rows["accent"][1]) == pytest.approx(frr, abs=0.05)
        worst, best = (float(rows["accent"][i].rsplit(" ", 1)[1]) for i in (2, 3))
        assert worst == pytest.approx(accent_frr.max(), abs=0.05) and best == pytest.approx(accent_frr.min(), abs=0.05)
        assert float(rows["accent"][4]) == pytest.approx(accent_frr.max() - accent_frr.min(), abs=0.1)
        assert int(rows["accent"][5]) == len(accent_frr)
    cutoffs = {m: ModelRegistry(models_dir()).get(m).decision.cutoff for m in MODELS}
    assert all(f"cutoff {c:g}" in html for c in cutoffs.values())


def test_groups_suppressed_from_cards_are_kept_in_the_internal_report(run, tmp_path) -> None:
    html = write_report(run, min_group_size=4).read_text()
    kept = re.search(r"suppressed from the public card \(under 4 clips for some metric\):\s*(.*?)\.</p>", html,
                     flags=re.S).group(1)
    assert {"accent=en-us", "accent=ru", "noise=babble"} <= {g.strip() for g in kept.split(",")}
    assert "detection_rate by accent" in html  # the figure still draws every group


def test_the_verdict_and_gates_come_from_signoff_json(run, tmp_path) -> None:
    signed = tmp_path / run.name
    shutil.copytree(run, signed, ignore=shutil.ignore_patterns("eval", "report.html", "model_cards", "signoff.*"))
    gates = [{"id": "latency/oww-hey-jarvis/phone", "model": "oww-hey-jarvis", "target": "phone",
              "metric": "latency_ms_p99", "value": 0.02, "threshold": 100, "ci_low": 0.019, "ci_high": 0.021,
              "status": "PASS", "reason": "fits"},
             {"id": "frr/oww-hey-jarvis", "model": "oww-hey-jarvis", "target": None, "metric": "frr", "value": 0.83,
              "threshold": 0.05, "ci_low": 0.55, "ci_high": 0.95, "status": "FAIL", "reason": "whole interval above"},
             {"id": "fa_per_hour/oww-hey-jarvis", "model": "oww-hey-jarvis", "target": None, "metric": "fa_per_hour",
              "value": 0.0, "threshold": 0.5, "ci_low": 0.0, "ci_high": 377.0, "status": "WAIVED", "reason": "waived",
              "waiver": {"owner": "qa-lead", "reason": "tiny corpus", "expires": "2027-01-01"}}]
    (signed / "signoff.json").write_text(json.dumps({"verdict": "FAIL", "gates": gates}))
    html = write_report(signed, min_group_size=3).read_text()
    assert re.search(r'<span class="verdict fail" id="verdict">FAIL</span>', html)
    assert "1 FAIL, 1 WAIVED, 1 PASS" in html
    open_rows = table_rows(html.replace('<table id="gates" class="gates">', '<table class="open">'), "open")
    assert [r[0] for r in open_rows] == ["frr/oww-hey-jarvis", "fa_per_hour/oww-hey-jarvis"]
    assert open_rows[0][4:8] == ["0.83", "[0.55, 0.95]", "0.05", "FAIL"]
    assert "qa-lead" in open_rows[1][9] and "2027-01-01" in open_rows[1][9]
    assert "1 passed gates" in html


# --- headless Chromium -------------------------------------------------------------------------

def _install_chromium() -> str | None:
    """Debian's chromium, installed with apt-get when running as root; the reason it is missing otherwise."""
    if shutil.which("chromium") or Path(CHROMIUM).is_file():
        return None
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "Debian chromium is not installed and this is not root with apt-get (apt-get install chromium)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "install", "-y", "chromium"], ["apt-get", "update"],
                    ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
        if command[1] == "install" and done.returncode == 0:
            return None
    return f"apt-get install chromium failed: {done.stderr.strip()[-300:]}"


@pytest.fixture(scope="module")
def chromium() -> str:
    reason = _install_chromium()
    if reason:
        pytest.skip(reason)
    return shutil.which("chromium") or CHROMIUM


def _high(fd: int) -> int:
    """``fd`` moved to the lowest free descriptor >= 10 (close-on-exec, like the original)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class DevTools:
    """A headless Chromium driven over ``--remote-debugging-pipe`` (commands on fd 3, replies on fd 4)."""

    def __init__(self, binary: str, profile: Path) -> None:
        # Each end is moved to a descriptor >= 10 first, so the child's dup2 onto 3 and 4 cannot clobber the other.
        cmd_read, self._write, self._read, out_write = (_high(fd) for pair in (os.pipe(), os.pipe()) for fd in pair)

        def wire() -> None:  # in the child, before exec: the protocol's fixed descriptors
            os.dup2(cmd_read, 3)
            os.dup2(out_write, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             f"--user-data-dir={profile}", "--hide-scrollbars"],
            pass_fds=(3, 4), preexec_fn=wire, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_read)
        os.close(out_write)
        self._buffer, self._id, self.events = b"", 0, []

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 60) -> dict[str, Any]:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {},
                   **({"sessionId": session} if session else {})}
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._next(deadline)
            if reply.get("id") == self._id:
                assert "error" not in reply, reply["error"]
                return reply["result"]

    def wait_for(self, event: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e["method"] == event for e in self.events):
            self._next(deadline)

    def drain(self, seconds: float) -> None:
        """Collect the events that arrive in the next ``seconds``."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self._next(deadline)
        except TimeoutError:
            pass

    def _next(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise TimeoutError("chromium sent nothing in time")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message = json.loads(raw)
        if "method" in message:
            self.events.append(message)
        return message

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            os.close(self._write)
            os.close(self._read)


def render(binary: str, page: Path, profile: Path, viewport: tuple[int, int] = VIEWPORT, mobile: bool = False,
           probes: dict[str, str] | None = None) -> dict[str, Any]:
    """Load ``page`` at ``viewport``; return its screenshot, console errors, uncaught exceptions, failed loads,
    requested URLs and the value of each JavaScript expression in ``probes``."""
    tools = DevTools(binary, profile)
    try:
        target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            tools.call(f"{domain}.enable", session=session)
        tools.call("Emulation.setDeviceMetricsOverride", {"width": viewport[0], "height": viewport[1],
                                                          "deviceScaleFactor": 1, "mobile": mobile}, session=session)
        tools.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        tools.wait_for("Page.loadEventFired")
        tools.drain(0.5)
        loaded = tools.call("Runtime.evaluate", {"expression": "Array.from(document.images).filter("
                                                 "i => i.complete && i.naturalWidth > 0).length",
                                                 "returnByValue": True}, session=session)["result"]["value"]
        probed = {name: tools.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                   session=session)["result"].get("value")
                  for name, expression in (probes or {}).items()}
        shot = tools.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
    finally:
        tools.close()
    by = lambda name: [e["params"] for e in tools.events if e["method"] == name]  # noqa: E731
    return {
        "screenshot": base64.b64decode(shot),
        "console_errors": [p for p in by("Runtime.consoleAPICalled") if p["type"] in ("error", "assert")],
        "exceptions": by("Runtime.exceptionThrown"),
        "log_errors": [p["entry"] for p in by("Log.entryAdded") if p["entry"]["level"] == "error"],
        "requests": [p["request"]["url"] for p in by("Network.requestWillBeSent")],
        "images_loaded": loaded,
        "probes": probed,
    }


def test_the_error_detector_catches_what_a_broken_page_does(chromium, tmp_path) -> None:
    """Negative control: without it, a clean render below would prove nothing."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body><p>broken</p>'
                   '<img src="missing.png"><img src="http://127.0.0.1:9/remote.png">'
                   '<script>console.error("boom"); console.log("fine"); notDefined();</script></body></html>')
    seen = render(chromium, bad, tmp_path / "profile")
    assert [e["args"][0]["value"] for e in seen["console_errors"]] == ["boom"]
    assert len(seen["exceptions"]) == 1
    assert any("missing.png" in (e.get("url") or "") for e in seen["log_errors"])
    assert any(u.startswith("http://") for u in seen["requests"])


def test_the_report_renders_in_headless_chromium_without_errors(chromium, report, tmp_path) -> None:
    seen = render(chromium, report, tmp_path / "profile")
    assert seen["console_errors"] == [] and seen["exceptions"] == [] and seen["log_errors"] == []
    assert {u.split(":", 1)[0] for u in seen["requests"]} <= {"file", "data"}
    assert seen["images_loaded"] == len([t for t, _ in parse(report).tags if t == "img"])
    pixels = image.imread(io.BytesIO(seen["screenshot"]), format="png")
    assert pixels.shape[:2] == (VIEWPORT[1], VIEWPORT[0])
    ink = (pixels[..., :3] < 0.9).any(axis=2).mean()  # share of pixels that are not (near) white
    assert 0.01 < ink < 0.9 and float(np.std(pixels[..., :3])) > 0.05


# --- one screen for a release owner ---------------------------------------------------------------

DESKTOP, PHONE = (1366, 768), (390, 844)
FIRST_SCREEN = """(() => {
  const box = id => { const e = document.getElementById(id); if (!e) return null;
                      const b = e.getBoundingClientRect(); return {top: b.top, bottom: b.bottom, right: b.right}; };
  return {verdict: box("verdict"), matrix: box("efficiency-matrix"), height: window.innerHeight,
          width: document.documentElement.clientWidth};
})()"""
TOO_WIDE = """(() => {
  const width = document.documentElement.clientWidth, wide = [];
  for (const e of document.body.querySelectorAll("*")) {
    if (e.parentElement && e.parentElement.closest(".scroll")) continue;  // scrolls inside its own box
    const b = e.getBoundingClientRect();
    if (b.width > 0 && (b.right > width + 0.5 || b.left < -0.5))
      wide.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + " " + Math.round(b.left) + "-" +
                Math.round(b.right));
  }
  return {width: width, scroll_width: document.documentElement.scrollWidth, wide: wide.slice(0, 20)};
})()"""


def screens_dir(run: Path) -> Path:
    """Where the screenshots go: $HARNESS_REPORT_SCREENS (CI keeps it as an artifact), else <run>/report-screens."""
    directory = Path(os.environ.get("HARNESS_REPORT_SCREENS") or run / "report-screens")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def test_verdict_and_matrix_fill_the_first_screen_at_1366x768(chromium, run, report, tmp_path) -> None:
    seen = render(chromium, report, tmp_path / "profile", DESKTOP, probes={"screen": FIRST_SCREEN})
    shot = screens_dir(run) / "report-1366x768.png"
    shot.write_bytes(seen["screenshot"])
    print(f"screenshot: {shot}")
    screen = seen["probes"]["screen"]
    assert screen["height"] == DESKTOP[1]
    for name in ("verdict", "matrix"):
        box = screen[name]
        assert box is not None, f"{name} is not on the page"
        assert 0 <= box["top"] and box["bottom"] <= DESKTOP[1], f"{name} is below the first screen: {box}"
    # the release owner reads the verdict before the matrix, and the full gate list is folded away
    assert screen["verdict"]["top"] < screen["matrix"]["top"]
    html = report.read_text()
    assert html.index('id="efficiency-matrix"') < html.index('<details id="all-gates">') < html.index('id="gates"')


def test_no_element_is_wider_than_a_390px_phone(chromium, run, report, tmp_path) -> None:
    seen = render(chromium, report, tmp_path / "profile", PHONE, mobile=True, probes={"wide": TOO_WIDE})
    shot = screens_dir(run) / "report-390.png"
    shot.write_bytes(seen["screenshot"])
    print(f"screenshot: {shot}")
    wide = seen["probes"]["wide"]
    assert wide["width"] == PHONE[0]
    assert wide["wide"] == [] and wide["scroll_width"] <= PHONE[0], wide


def test_the_overflow_check_catches_a_table_that_is_too_wide(chromium, tmp_path) -> None:
    """Negative control for the 390 px check: a wide table outside a scroll box is reported, inside one it is not."""
    cells = "".join(f"<td>column-{i}-with-a-long-value</td>" for i in range(12))
    page = tmp_path / "wide.html"
    page.write_text('<!DOCTYPE html><html><head><meta name="viewport" content="width=device-width, initial-scale=1">'
                    f'<link rel="icon" href="data:,"></head><body><table id="loose"><tr>{cells}</tr></table>'
                    f'<div class="scroll" style="overflow-x:auto"><table id="boxed"><tr>{cells}</tr></table></div>'
                    "</body></html>")
    wide = render(chromium, page, tmp_path / "profile", PHONE, mobile=True, probes={"wide": TOO_WIDE})["probes"]["wide"]
    assert any(w.startswith("table#loose") for w in wide["wide"])
    assert not any("boxed" in w for w in wide["wide"])


def test_predicted_cells_look_different_from_measured_ones(run, tmp_path) -> None:
    copy = tmp_path / run.name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("report.html"))
    eff = pd.read_csv(copy / "efficiency.csv")
    assert eff["provenance"].str.startswith("predicted").all()  # a simulated run predicts its device figures
    matrix = re.search(r'<table id="efficiency-matrix">(.*?)</table>',
                       write_report(copy, min_group_size=3).read_text(), flags=re.S).group(1)
    assert re.search(r'<td class="fit predicted"', matrix) and "predicted:estimated" in matrix
    eff.assign(provenance="measured:device").to_csv(copy / "efficiency.csv", index=False)
    matrix = re.search(r'<table id="efficiency-matrix">(.*?)</table>',
                       write_report(copy, min_group_size=3).read_text(), flags=re.S).group(1)
    assert "predicted" not in matrix and "measured:device" in matrix


def test_an_eval_only_report_skips_the_efficiency_sections(run, tmp_path) -> None:
    copy = tmp_path / run.name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("efficiency.*", "carbon.*", "latency__*", "power__*",
                                                                "report.html"))
    html = write_report(copy, min_group_size=3).read_text()
    for heading in ("Fits per model and target", "Carbon and cost", "Latency distributions", "Power traces"):
        assert heading not in html
    assert 'id="verdict"' in html and "Accuracy: oww-hey-jarvis" in html


def test_an_efficiency_only_report_skips_the_accuracy_sections(run, tmp_path) -> None:
    copy = tmp_path / run.name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("fairness.*", "disparity.json", "predictions.parquet",
                                                                "scores.parquet", "report.html"))
    html = write_report(copy, min_group_size=3).read_text()
    assert "Accuracy:" not in html and "Largest fairness gaps" not in html and "Models without accuracy" not in html
    assert 'id="efficiency-matrix"' in html


def assert_outward(shown: tuple[float, float], exact: list[float], step: float) -> None:
    """Shown bounds are the exact ones rounded away from the estimate, by less than one step of the shown digits."""
    assert exact[0] - step < shown[0] <= exact[0] + 1e-9 and exact[1] - 1e-9 <= shown[1] < exact[1] + step, \
        (shown, exact, step)


def test_the_three_largest_gaps_come_first_with_their_intervals(run, report) -> None:
    disparity = [d for d in json.loads((run / "disparity.json").read_text())
                 if "&" not in d["attribute"] and d.get("difference") is not None]
    detection = {(d["model"], d["attribute"]) for d in disparity if d["metric"] == "detection_rate"}
    disparity = [d for d in disparity if not (d["metric"] == "frr" and (d["model"], d["attribute"]) in detection)]
    largest = sorted(disparity, key=lambda d: -abs(d["difference"]))[:3]
    html = report.read_text()
    rows = re.findall(r"<tr>(.*?)</tr>", re.search(r'<table id="fairness-gaps">(.*?)</table>', html, flags=re.S)
                      .group(1), flags=re.S)[1:]
    assert len(rows) == len(largest) == 3
    for row, d in zip(rows, largest, strict=True):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        assert cells[:2] == [d["model"], d["attribute"]]
        scale = 100.0 if d["metric"] in ("detection_rate", "frr", "fpr", "accuracy", "keyword_fpr") else 1.0
        ci = d.get("difference_ci") or [None, None]
        if None in ci or ci[0] == ci[1]:  # no interval, or a single point: the value alone, 4 significant digits
            assert float(cells[5].split()[0]) == pytest.approx(d["difference"] * scale, rel=5e-4)
            continue
        value, low, high = (float(x) for x in re.match(r"([\d.-]+) \[([\d.-]+), ([\d.-]+)\]", cells[5]).groups())
        width = (d["difference_ci"][1] - d["difference_ci"][0]) * scale
        step = 10 ** -(1 - np.floor(np.log10(width)))  # the digits the interval's width supports
        assert value == pytest.approx(d["difference"] * scale, abs=step / 2 + 1e-9)
        assert_outward((low, high), [c * scale for c in d["difference_ci"]], step)
    assert html.index('id="fairness-gaps"') < html.index('id="model-')


def test_flat_latency_and_flat_simulated_power_are_said_not_drawn(run, tmp_path) -> None:
    copy = tmp_path / run.name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("report.html"))
    raw = copy / "raw"
    for path in raw.glob("latency__*.parquet"):
        frame = pd.read_parquet(path)
        frame.assign(device_latency_ms=4.25).to_parquet(path)
    for path in raw.glob("power__*.parquet"):
        from harness.power.trace import Trace
        trace = Trace.from_parquet(path)
        flat = np.full_like(trace.current_a, 0.05)
        Trace(flat, trace.sample_rate_hz, trace.voltage_v, trace.events_s, trace.monitor).to_parquet(path)
    html = write_report(copy, min_group_size=3).read_text()
    assert "device latency of every timed inference" not in html and "power over the measurement" not in html
    assert "oww-hey-jarvis on phone: 4.25 ms for every one of 20 inferences" in html
    assert re.search(r"oww-hey-jarvis on phone: simulated, a constant [\d.]+ mW while inferring", html)


def test_the_report_shows_no_raw_dicts_and_no_scientific_notation(report) -> None:
    text = " ".join(parse(report).text)
    body = text[text.index("edge-harness report: run"):]
    assert not re.search(r"[{}]", body), "a raw dict is shown"
    scientific = re.search(r"(?<![\w.])-?\d+(\.\d+)?[eE][+-]?\d+(?![\w.])", body)  # not inside a hash or an id
    assert scientific is None, body[scientific.start() - 40:scientific.end() + 20]


def test_a_memory_gate_reads_in_binary_units_without_a_point_interval(run, tmp_path) -> None:
    signed = tmp_path / run.name
    shutil.copytree(run, signed, ignore=shutil.ignore_patterns("report.html", "signoff.*"))
    gate = {"id": "memory/oww-hey-jarvis/phone", "model": "oww-hey-jarvis", "target": "phone", "metric": "arena_bytes",
            "value": 80820, "ci_low": 80820, "ci_high": 80820, "threshold": 8388608, "op": "<=", "unit": "bytes",
            "status": "FAIL", "reason": "over", "provenance": "predicted:static-estimate"}
    (signed / "signoff.json").write_text(json.dumps({"verdict": "FAIL", "gates": [gate]}))
    html = write_report(signed, min_group_size=3).read_text()
    row = table_rows(html.replace('<table id="gates" class="gates">', '<table class="open">'), "open")[0]
    assert [unescape(c) for c in row[4:8]] == ["78.93 KiB", "", "<= 8 MiB", "FAIL"]
    assert row[10] == "predicted:static-estimate"


def test_a_model_the_stack_cannot_run_is_marked_not_deployable_with_its_reason(run, tmp_path) -> None:
    copy = tmp_path / run.name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("report.html"))
    eff = pd.read_csv(copy / "efficiency.csv")
    eff.assign(deployable=False, provenance="not deployable",
               not_deployable_reason="op GRU has no kernel in tflm-reference").to_csv(copy / "efficiency.csv",
                                                                                       index=False)
    matrix = re.search(r'<table id="efficiency-matrix">(.*?)</table>',
                       write_report(copy, min_group_size=3).read_text(), flags=re.S).group(1)
    assert re.search(r'<td class="undeployable"', matrix)
    assert "op GRU has no kernel in tflm-reference" in matrix and "not deployable" in matrix
    assert "✓" not in matrix and "predicted" not in matrix
