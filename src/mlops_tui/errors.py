"""One exception tree for mlops-tui; every error knows its exit code and a message a person can act on.

```
MlopsError                     exit 1  operation failed
├── UsageError                 exit 2  bad arguments, bad filter expression, unknown environment
│   └── ConfigError            exit 2  bad config file: names the file and the key path
├── BackendError               exit 1  a backend answered with an error
│   ├── NotFound               exit 1  unknown model, run, experiment
│   ├── AlreadyExists          exit 1  the registry already holds what was to be created
│   ├── InvalidQuery           exit 2  the backend rejected a query the user wrote (filter syntax)
│   └── BackendUnreachable     exit 3  connection refused, timeout, DNS, bad gateway
├── Refused                    exit 4  the safety policy refused a write action
│   ├── Conflict               exit 4  the target changed after the action was decided: nothing written
│   └── GatesFailed            exit 4  a promotion gate failed and was not overridden: nothing written
├── JournalError               exit 1  the audit journal cannot be written: the action is not performed
├── Overwritten                exit 1  written, then replaced by another write before the re-read
└── PartlyAnswered             exit 1-4  some sources failed (the worst code wins); the others' answer printed
```
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

__all__ = [
    "AlreadyExists",
    "BackendError",
    "BackendUnreachable",
    "ConfigError",
    "Conflict",
    "ExitCode",
    "GatesFailed",
    "InvalidQuery",
    "JournalError",
    "MlopsError",
    "NotFound",
    "Overwritten",
    "PartlyAnswered",
    "Refused",
    "UsageError",
]


class ExitCode(IntEnum):
    """Exit codes of every headless command; stable, documented in the README."""

    OK = 0
    FAILED = 1
    USAGE = 2
    UNREACHABLE = 3
    REFUSED = 4
    INTERRUPTED = 130


class MlopsError(Exception):
    """Base of every error mlops-tui raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILED
    title: str = "Operation failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(MlopsError):
    exit_code = ExitCode.USAGE
    title = "Invalid usage"


class ConfigError(UsageError):
    """A bad config file: names the file, the line and the key; `problems` holds every error
    found in it (one line each in `message`)."""

    title = "Invalid configuration"

    def __init__(
        self, message: str, *, path: str | None = None, key: str | None = None, line: int | None = None
    ) -> None:
        place = f"{path}:{line}" if path and line else path or (f"line {line}" if line else None)
        where = ", ".join(part for part in (place, f"key {key}" if key else None) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.reason = message
        self.path = path
        self.key = key
        self.line = line
        self.problems: tuple[ConfigError, ...] = (self,)

    @classmethod
    def several(cls, problems: Sequence[ConfigError]) -> ConfigError:
        """One error standing for all of `problems` (itself when there is one)."""
        if len(problems) == 1:
            return problems[0]
        error = cls("\n".join(p.message for p in problems))
        error.path = problems[0].path
        error.problems = tuple(problems)
        return error


class BackendError(MlopsError):
    title = "Backend error"

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.reason = message


class NotFound(BackendError):
    title = "Not found"


class AlreadyExists(BackendError):
    """The registry already holds what was to be created."""


class InvalidQuery(BackendError):
    exit_code = ExitCode.USAGE
    title = "Invalid query"


class BackendUnreachable(BackendError):
    exit_code = ExitCode.UNREACHABLE
    title = "Backend unreachable"


class Refused(MlopsError):
    exit_code = ExitCode.REFUSED
    title = "Refused"


class Conflict(Refused):
    """Someone else changed the target after the action was decided."""

    title = "Changed meanwhile"


class GatesFailed(Refused):
    """A promotion gate failed and was not overridden: nothing was written."""

    title = "Promotion gates failed"


class JournalError(MlopsError):
    """The journal cannot be written: the action is not performed unrecorded."""

    title = "Audit journal unavailable"


class Overwritten(MlopsError):
    """The write landed, then another write replaced it before the re-read."""

    title = "Overwritten"


class PartlyAnswered(MlopsError):
    """Some of the sources asked failed; what the others answered was printed."""

    title = "Some sources failed"

    def __init__(self, failures: list[MlopsError]) -> None:
        super().__init__("; ".join(f.message for f in failures) + " (the other sources' answer was printed)")
        self.failures = failures
        self.exit_code = max(f.exit_code for f in failures)
