"""Shared pieces of the benchmark suite: result rows, medians, and timed subprocesses."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SCRIPTS = Path(__file__).resolve().parent / "scripts"

# Environment variables that would point a subprocess at the user's own files or servers, or
# change what it prints.
_LEAKY_ENV = ("MLOPS_TUI_CONFIG", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NO_COLOR")


class BenchmarkError(RuntimeError):
    """A benchmark step failed: a command exited non-zero, printed the wrong data, or timed out."""


@dataclass
class Result:
    """One row of the table: a measure, optionally against an anchor, and its target."""

    measure: str
    value: float | None
    """Median, in `unit`; None when the measure could not be taken."""
    anchor: float | None = None
    """Median of the anchor, in `unit`."""
    anchor_name: str = ""
    target: str = ""
    """`ratio<=0.25` (value / anchor), `delta<=0.3` (value - anchor, in `unit`), `value<=1.0`
    (`<` for a strict bound),
    several of them joined by `, ` (all must hold), or empty (reported only)."""
    note: str = ""
    samples: list[float] = field(default_factory=list)
    anchor_samples: list[float] = field(default_factory=list)
    unit: str = "s"
    """`s` (seconds), `MB` (peak resident memory), `%` (of one core) or `B` (bytes)."""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.anchor:
            return None
        return self.value / self.anchor

    @property
    def delta(self) -> float | None:
        if self.value is None or self.anchor is None:
            return None
        return self.value - self.anchor

    @property
    def met(self) -> bool | None:
        """Whether the target is met; None when there is no target or no value."""
        if not self.target or self.value is None:
            return None
        verdicts = []
        for target in self.target.split(", "):
            strict = "<=" not in target
            kind, limit = target.split("<" if strict else "<=")
            measured = {"ratio": self.ratio, "delta": self.delta}.get(kind, self.value)
            if measured is None:
                return None
            bound = float(limit.removesuffix(" s"))
            verdicts.append(measured < bound if strict else measured <= bound)
        return all(verdicts)

    def as_json(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "unit": self.unit,
            "value": self.value,
            "anchor": self.anchor_name or None,
            "anchor_value": self.anchor,
            "ratio": self.ratio,
            "target": self.target or None,
            "met": self.met,
            "note": self.note or None,
            "samples": self.samples,
            "anchor_samples": self.anchor_samples,
        }


def median_of(repeat: int, measure: Callable[[], float], *, warmup: bool = True) -> list[float]:
    """Run `measure` (which returns seconds) `repeat` times after one untimed warm-up run."""
    if warmup:
        measure()
    return [measure() for _ in range(repeat)]


def interleaved(
    repeat: int, measures: Mapping[str, Callable[[], float]], *, warmup: bool = True
) -> dict[str, list[float]]:
    """Samples of several measures taken in turns, so that each sees the same load on the machine.

    One untimed warm-up round first (when `warmup`), then `repeat` rounds; each round starts one
    measure later than the previous one, so no measure always runs first.
    """
    names = list(measures)
    if warmup:
        for name in names:
            measures[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeat):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            samples[name].append(measures[name]())
    return samples


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def isolated_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment with every XDG directory inside `home` and no leaking settings."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV}
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        path = home / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[f"XDG_{name}_HOME"] = str(path)
    env.update(extra or {})
    return env


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's peak resident memory so far (VmHWM), in MB.

    Not getrusage's maxrss of a child: that also counts the memory of the parent it was forked from
    (Linux keeps the high-water mark across exec), here the suite's own few hundred MB.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise BenchmarkError(f"no VmHWM in /proc/{pid}/status")


def timed_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    check: Callable[[str], None] | None = None,
    timeout: float = 120.0,
    ok: tuple[int, ...] = (0,),
) -> float:
    """Wall time of one run of `argv`, from spawn to exit, with stdout captured.

    `check` receives stdout and raises when the command did not print what it should have.

    Raises:
        BenchmarkError: an exit code not in `ok`, timeout, or failed check.
    """
    start = time.perf_counter()
    try:
        done = subprocess.run(
            list(argv),
            env=dict(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"{argv[0]} did not finish within {timeout:.0f} s") from None
    elapsed = time.perf_counter() - start
    if done.returncode not in ok:
        raise BenchmarkError(
            f"{' '.join(map(str, argv))} exited {done.returncode}: {done.stderr.strip()[-2000:]}"
        )
    if check is not None:
        check(done.stdout)
    return elapsed


def expect_json_list(key: str, count: int) -> Callable[[str], None]:
    """A stdout check: a JSON object whose `key` holds exactly `count` items."""

    def check(stdout: str) -> None:
        try:
            found = len(json.loads(stdout)[key])
        except (ValueError, KeyError, TypeError) as exc:
            raise BenchmarkError(f"expected JSON with {key!r}, got {stdout[:200]!r}") from exc
        if found != count:
            raise BenchmarkError(f"expected {count} {key}, got {found}")

    return check


def expect_lines(minimum: int) -> Callable[[str], None]:
    """A stdout check: at least `minimum` lines of output (a table)."""

    def check(stdout: str) -> None:
        if stdout.count("\n") < minimum:
            raise BenchmarkError(f"expected at least {minimum} lines, got {stdout[:200]!r}")

    return check
