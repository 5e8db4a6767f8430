"""An HTTP proxy on 127.0.0.1 that injects faults in front of a real or test server.

Unlike `TcpProxy`, it reads each request, so a fault applies from the next request on, whatever
connections the client keeps alive. It runs its own event loop in a thread: synchronous tests (a
headless command in a subprocess) and asynchronous ones (Textual's Pilot) use it alike.

Faults, as a client sees them:

- `refuse()`: the listening socket is closed (connection refused) and open connections dropped;
  `listen()` binds the same port again. Both together are a restart of the backend.
- `Fault.hang()`: the connection is accepted and the request read; no answer ever comes.
- `Fault.answer(code, ...)`: a complete HTTP answer with that status (500, 401, 403, 429 ...).
- `Fault.body(data)`: a 200 `application/json` answer whose body is `data` (malformed JSON, or
  JSON of an unexpected shape).
- `Fault.truncated()`: the real server's answer, cut in the middle of its body, then the
  connection closed (the length announced in the header is never reached).
- `Fault.slow(seconds)`: the real server's answer, after `seconds`.

A fault with `times=N` is served N times, then the proxy passes requests through again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Fault", "FaultProxy"]

Kind = Literal["hang", "answer", "truncated", "slow"]
_MAX_HEAD = 65536


@dataclass(frozen=True)
class Fault:
    """What the proxy does to a request instead of passing it on."""

    kind: Kind
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    content: bytes = b""
    times: int | None = None
    """Serve the fault this many times, then pass requests through; None: until cleared."""
    path: str = ""
    """Only requests whose path contains this; the others pass through."""
    seconds: float = 0.0
    """`slow`: how long the answer is held back."""

    @classmethod
    def hang(cls, path: str = "") -> Fault:
        return cls("hang", path=path)

    @classmethod
    def answer(
        cls,
        code: int,
        content: bytes = b"",
        *,
        headers: dict[str, str] | None = None,
        content_type: str = "text/plain",
        times: int | None = None,
    ) -> Fault:
        return cls(
            "answer",
            code,
            (("Content-Type", content_type), *(headers or {}).items()),
            content,
            times,
        )

    @classmethod
    def body(cls, content: bytes) -> Fault:
        return cls.answer(200, content, content_type="application/json")

    @classmethod
    def truncated(cls) -> Fault:
        return cls("truncated")

    @classmethod
    def slow(cls, seconds: float, *, times: int | None = None) -> Fault:
        return cls("slow", times=times, seconds=seconds)


@dataclass
class _Counters:
    requests: int = 0
    """Requests read from clients, whatever was done with them."""
    passed: int = 0
    """Requests answered by the server behind the proxy."""
    faults: int = 0
    """Requests answered with (or swallowed by) a fault."""
    paths: list[str] = field(default_factory=list)


class FaultProxy:
    """Forwards HTTP requests to `target_host:target_port`, or applies the current fault."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.fault: Fault | None = None
        self.counters = _Counters()
        self._served_fault = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._thread.start()

    # -- control, from any thread -------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def listen(self) -> FaultProxy:
        """Accept connections (again, on the same port once one was chosen)."""
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def refuse(self) -> None:
        """Close the listening socket and drop open connections: connecting is refused."""
        asyncio.run_coroutine_threadsafe(self._refuse(), self._loop).result(10)

    def restart(self) -> None:
        """The backend goes away (connections dropped, connecting refused) and comes back."""
        self.refuse()
        self.listen()

    def inject(self, fault: Fault | None) -> None:
        """Apply `fault` from the next request on; None passes requests through again."""
        with self._lock:
            self.fault = fault
            self._served_fault = 0

    def close(self) -> None:
        self.refuse()
        asyncio.run_coroutine_threadsafe(self._cancel_tasks(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.listen()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the proxy, on its own loop ------------------------------------------------------------

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _refuse(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.close()
        self._open.clear()

    async def _cancel_tasks(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            fault = self.fault
            if fault is None or fault.path not in path:
                return None
            self._served_fault += 1
            if fault.times is not None and self._served_fault >= fault.times:
                self.fault = None
            return fault

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            request = await _read_request(reader)
            if request is None:
                return
            path = request.split(b" ", 2)[1].decode("latin-1")
            self.counters.requests += 1
            self.counters.paths.append(path)
            fault = self._take_fault(path)
            if fault is None:
                self.counters.passed += 1
                writer.write(await self._forward(request))
            elif fault.kind == "hang":
                self.counters.faults += 1
                await reader.read()  # until the client gives up
                return
            elif fault.kind == "answer":
                self.counters.faults += 1
                writer.write(_answer(fault))
            elif fault.kind == "slow":
                self.counters.faults += 1
                await asyncio.sleep(fault.seconds)
                writer.write(await self._forward(request))
            else:
                self.counters.faults += 1
                answer = await self._forward(request)
                head, _, body = answer.partition(b"\r\n\r\n")
                writer.write(head + b"\r\n\r\n" + body[: max(1, len(body) // 2)])
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._open.discard(writer)
            with contextlib.suppress(OSError):
                writer.close()

    async def _forward(self, request: bytes) -> bytes:
        """The server's whole answer to `request`, sent on a fresh connection closed after it."""
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        try:
            up_writer.write(request)
            await up_writer.drain()
            answer = await up_reader.read()
        finally:
            up_writer.close()
        # The proxy closes every connection after one answer: say so, or a client that keeps
        # connections alive would send its next request into a closed socket.
        head, sep, body = answer.partition(b"\r\n\r\n")
        return _closing(head) + sep + body


def _closing(head: bytes) -> bytes:
    """A message head with `Connection: close` in place of any connection header."""
    lines = head.split(b"\r\n")
    kept = [lines[0]] + [
        line
        for line in lines[1:]
        if line.partition(b":")[0].strip().lower() not in (b"connection", b"keep-alive")
    ]
    return b"\r\n".join([*kept, b"Connection: close"])


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One request, rewritten to close the connection after its answer; None at end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    if len(head) > _MAX_HEAD:
        return None
    length = 0
    for line in head[:-4].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return _closing(head[:-4]) + b"\r\n\r\n" + body


def _answer(fault: Fault) -> bytes:
    reasons = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}
    lines = [f"HTTP/1.1 {fault.status} {reasons.get(fault.status, 'Error')}"]
    lines += [f"{name}: {value}" for name, value in fault.headers]
    lines += [f"Content-Length: {len(fault.content)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + fault.content
