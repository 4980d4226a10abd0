"""The ``harness`` command line: one click group, one module per command family, each imported on first use.

Every error is turned into a message and its exit code here, in one place (the table is
``harness.core.errors.ExitCode``): a HarnessError by its class, an OSError from the user's
environment by its errno and path, and anything else, a bug, as exit 70 with the traceback
written to a log file. No traceback ever reaches the terminal.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from datetime import datetime, timezone

import click

from harness import __version__
from harness.cli.commands import LazyGroup
from harness.core.errors import EXIT_CODE_TABLE, ExitCode, HarnessError
from harness.core.paths import cache_dir

_DEVICE_PREFIXES = ("/dev/", "COM", "\\\\.\\")
_ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: "no space left on the device holding it",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder, not a file",
    errno.EEXIST: "it already exists",
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EBUSY: "it is busy (in use by another program)",
}


def _fail(message: str, hint: str | None, code: int) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    if hint:
        click.echo(f"  hint: {hint}", err=True)
    sys.exit(int(code))


def _os_error(exc: OSError) -> None:
    """An OSError the user's environment caused: name the path and the cause; device ports exit 4."""
    cause = _ENVIRONMENT_ERRNOS.get(exc.errno or 0, exc.strerror or str(exc))
    path = str(exc.filename) if exc.filename is not None else None
    if exc.errno in (errno.EEXIST, errno.ENOTDIR) and path is not None and os.path.isfile(path):
        cause = "it is a file where a folder is needed"
    if path is not None and exc.filename2 is not None:
        path = f"{path} -> {exc.filename2}"
    device = path is not None and path.startswith(_DEVICE_PREFIXES)
    hint = "check the device is plugged in and you may open it (e.g. the 'dialout' group)" if device else \
        "check the folder exists, is writable and has free space"
    _fail(f"{path}: {cause}" if path else f"the operating system refused: {cause}", hint,
          ExitCode.DEVICE if device else ExitCode.USAGE)


def _internal_error(exc: BaseException) -> None:
    """A bug: write the traceback to a log file and say, in one line, where it is."""
    text = "".join(traceback.format_exception(exc))
    try:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        log = cache_dir("logs") / f"internal-error-{stamp}-{os.getpid()}.log"
        log.write_text(f"harness {__version__}\nargv: {sys.argv}\n\n{text}", encoding="utf-8")
        where = f"the traceback is in {log}"
    except OSError as log_exc:
        where = f"the traceback could not be written ({log_exc.strerror}); last line: {text.strip().splitlines()[-1]}"
    summary = (str(exc).strip().splitlines() or [""])[0][:200]
    _fail(f"internal error ({type(exc).__name__}: {summary}); {where}",
          "this is a bug in the harness; please report it with that log file", ExitCode.INTERNAL)


class _Group(LazyGroup):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except HarnessError as exc:
            click.secho(f"error: {exc.message}", fg="red", err=True)
            if exc.hint:
                click.echo(f"  hint: {exc.hint}", err=True)
            if exc.log_path:
                click.echo(f"  log: {exc.log_path}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, KeyboardInterrupt):
            raise
        except OSError as exc:
            if exc.errno is None and exc.filename is None:
                _internal_error(exc)
            _os_error(exc)
        except Exception as exc:  # noqa: BLE001 - the one place a bug becomes exit 70 instead of a traceback
            _internal_error(exc)
        return None


def _exit_code_help() -> str:
    """The exit-code table as help lines, indented like the docstring's examples."""
    return "\n      ".join(f"{int(code):<3} {text}" for code, text in EXIT_CODE_TABLE)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="harness")
def cli() -> None:
    """edge-harness: benchmark quantized edge ML models on real or simulated devices.

    \b
    Typical session:
      harness targets list                 # device profiles and their budgets
      harness models list                  # registered models (sha256-pinned)
      harness predict --model mww-alexa --target esp32-s3 --json
      harness run                          # the default plan, plans/demo.yaml
      harness run --model my.tflite --target mcu
      harness eval --model mww-alexa --corpus builtin:demo   # accuracy per accent and noise
      harness signoff results/<run_id>     # the verdict: exit 0 PASS, 1 FAIL, 3 undecided
      harness sim-dut --target mcu --model mlperf-dscnn-kws  # a simulated MLPerf Tiny board
      harness bench-device --port /dev/ttyACM0 --model mlperf-dscnn-kws
    Every run writes results/<run_id>/ (tables, report.html, model_cards/, signoff.md)
    and prints that directory as its last line.

    \b
    Exit status (every command):
      {exit_codes}
    """


cli.help = (cli.help or "").replace("{exit_codes}", _exit_code_help())


def _register() -> None:
    """Nothing to do: the group imports each command when it is first used (kept for callers of old)."""


def main() -> None:
    cli(prog_name="harness")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
