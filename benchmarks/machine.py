"""A short description of the machine and software the figures were measured on."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine makes the figures noisy."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def describe() -> dict[str, object]:
    """CPU, cores, memory, OS, Python and the versions of the packages that matter here."""
    return {
        "cpu": _cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "mlops_tui": _version("mlops-tui"),
        "mlflow": _version("mlflow"),
        "mlflow_skinny": _version("mlflow-skinny"),
        "textual": _version("textual"),
        "httpx": _version("httpx"),
        "bytecode_writing": "off (PYTHONDONTWRITEBYTECODE)"
        if os.environ.get("PYTHONDONTWRITEBYTECODE")
        else "on",
        "load_average": load_average(),
    }


def render(info: dict[str, object]) -> str:
    """The description as aligned `key: value` lines."""
    width = max(map(len, info))
    return "\n".join(f"{key.ljust(width)}  {value}" for key, value in info.items())
