"""A lock on a registry slot kept in the MLflow server itself, for operators who share no journal.

MLflow enforces one thing a lock can be built on: creating a registered model whose name exists
fails. The holder of slot S's lock is whoever created the registered model `mlops_tui.lock.<S>.<N>`
(N a generation); releasing deletes it. A lock records until when it is held (its description);
a holder killed mid-write leaves it behind, and once that lease has run out the next writer takes
generation N+1 (only one can create it) and deletes the stale one. A holder slower than its lease
may be overtaken; the re-read after writing then reports `overwritten`.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from mlops_tui.config.naming import LOCK_PREFIX
from mlops_tui.errors import JournalError, MlopsError, NotFound
from mlops_tui.ops.journal import LOCK_WAIT_SECONDS
from mlops_tui.sources.base import TrackingSource

__all__ = ["RegistryLease"]

POLL_SECONDS = 0.1
_UNTIL = re.compile(r" until (\S+)$")


class RegistryLease:
    """The lock of one slot, kept as a registered model of the tracking server."""

    def __init__(
        self,
        source: TrackingSource,
        slot: str,
        *,
        holder: str,
        lease_seconds: float,
        clock: Callable[[], datetime],
        wait: float = LOCK_WAIT_SECONDS,
    ) -> None:
        self.source = source
        self.slot = slot
        self.base = LOCK_PREFIX + hashlib.sha256(slot.encode()).hexdigest()[:16]
        self.holder = holder
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock
        self.wait = wait
        self.held: str | None = None

    async def acquire(self) -> None:
        """Raises: JournalError, when another writer holds it past `wait`, or the server fails."""
        deadline = time.monotonic() + self.wait
        try:
            while True:
                generations = await self._generations()
                now = self.clock()
                live = [g for g, until in generations.items() if until is not None and until > now]
                if not live:
                    number = max(generations, default=0) + 1
                    name = f"{self.base}.{number}"
                    until = (now + self.lease).isoformat(timespec="milliseconds")
                    description = f"mlops-tui write lock of {self.slot}, held by {self.holder} until {until}"
                    if await self.source.ensure_model(name, description=description):
                        self.held = name
                        for stale in generations:
                            await self._delete(f"{self.base}.{stale}")
                        return
                elif time.monotonic() > deadline:
                    raise JournalError(
                        f"the registry's write lock of {self.slot} is held by another writer "
                        f"for over {self.wait:.0f} s; nothing written"
                    )
                else:
                    await asyncio.sleep(POLL_SECONDS)
        except JournalError:
            raise
        except MlopsError as exc:
            raise JournalError(
                f"cannot take the registry's write lock of {self.slot}: {exc.message}"
            ) from None

    async def _generations(self) -> dict[int, datetime | None]:
        page = await self.source.search_models(f"name LIKE '{self.base}.%'", max_results=100)
        found: dict[int, datetime | None] = {}
        for model in page.items:
            suffix = model.name.removeprefix(self.base + ".")
            if suffix.isdigit():
                match = _UNTIL.search(model.description)
                found[int(suffix)] = datetime.fromisoformat(match.group(1)) if match else None
        return found

    async def _delete(self, name: str) -> None:
        try:
            await self.source.delete_model(name)
        except NotFound:
            pass  # released or cleared by another writer meanwhile

    async def release(self) -> None:
        """Let the next writer in; a lock that cannot be deleted runs out with its lease."""
        if self.held is not None:
            try:
                await self._delete(self.held)
            except MlopsError:
                pass
            self.held = None
