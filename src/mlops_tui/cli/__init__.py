"""Headless commands (`noun verb`), table or JSON output, and the documented exit codes.

Imports stay light: Textual is imported only by the bare `mlops-tui` (the TUI) and `demo`, MLflow only
by commands that read a SQL store or seed one.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import click

from mlops_tui.cli.app import root
from mlops_tui.config import redact
from mlops_tui.config.libraries import DEBUG_ENV_VAR, route_library_output
from mlops_tui.errors import BackendError, ExitCode, MlopsError, PartlyAnswered, UsageError
from mlops_tui.text.sanitize import printable

__all__ = ["main", "root"]


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the `mlops-tui` console script: every failure becomes an exit code."""
    route_library_output()
    try:
        root.main(args=argv, prog_name="mlops-tui", standalone_mode=False)
    except MlopsError as exc:
        _fail(exc.exit_code, _error_line(exc))
    except click.exceptions.Abort:
        _fail(ExitCode.INTERRUPTED, "interrupted")
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.USAGE if isinstance(exc, click.UsageError) else ExitCode.FAILED)
    except KeyboardInterrupt:
        _fail(ExitCode.INTERRUPTED, "interrupted")
    except BrokenPipeError:
        # The reader went away (`| head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(ExitCode.OK)
    except Exception as exc:
        if os.environ.get(DEBUG_ENV_VAR):
            import traceback

            click.echo(redact(traceback.format_exc()).rstrip(), err=True)
        _fail(
            ExitCode.FAILED,
            f"internal error: {type(exc).__name__}: {exc} (--debug shows the traceback)",
        )
    sys.exit(ExitCode.OK)


_LED_BY_SUBJECT = (UsageError, BackendError, PartlyAnswered)
"""Errors whose message opens with what it is about (the argument, the file and line, the
source): scripts match those lines as they are, so no title goes before them."""


def _error_line(exc: MlopsError) -> str:
    """The stderr line of a failed command: the error's title, then its message, as the TUI shows
    them. The message alone where the title would add nothing: the message opens with its subject,
    already says what the title says (`changed meanwhile: ...`), or the title is the generic one."""
    title = exc.title.lower()
    if (
        isinstance(exc, _LED_BY_SUBJECT)
        or exc.title == MlopsError.title
        or all(word in exc.message.lower() for word in title.split())
    ):
        return exc.message
    return f"{title}: {exc.message}"


def _fail(code: ExitCode, message: str) -> NoReturn:
    # Whatever a backend or a library put in a message, a secret never reaches the terminal, nor
    # a control character: each line stays one line that cannot drive the terminal.
    for line in redact(message).splitlines():  # several config errors: one line each
        click.echo(f"mlops-tui: {printable(line)}", err=True)
    sys.exit(code)
