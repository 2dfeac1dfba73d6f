"""A real peer that drips: a TCP server on 127.0.0.1, on an event loop in a
thread of its own, that answers every connection one byte every few
seconds, as a tarpit or a hostile webhook receiver does.

::

    with running_drip_server(b"220 mail.example ESMTP\\r\\n", every=5.0) as drip:
        ...  # connect to drip.port; the banner takes 110 s to arrive
    with running_drip_server(HTTP_OK, every=2.0, http=True) as drip:
        ...  # POST to drip.url("/hooks"); the request is read, then the answer drips

``http=True`` reads each request (its head and ``Content-Length`` body)
before answering; ``at_once`` bytes of the answer go out before the drip.
Every connection is recorded (``Connection``): its request path, when it
opened, and when the client hung up; ``most_open`` is the most connections
open at once, overall and per path.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


@dataclass
class Connection:
    path: str
    opened: float  # time.monotonic()
    closed: float | None = None  # when the client hung up, or the server stopped

    @property
    def lasted(self) -> float | None:
        return None if self.closed is None else self.closed - self.opened


class DripServer:
    def __init__(self, answer: bytes, every: float, *, http: bool, at_once: int) -> None:
        self.answer = answer
        self.every = every
        self.http = http
        self.at_once = at_once
        self.connections: list[Connection] = []
        self.most_open = 0
        self.most_open_per_path: Counter[str] = Counter()
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        # The loop runs in a thread of its own from the start: the test's own
        # thread may have a loop running already (playwright's, in a browser
        # test before this one), which forbids run_until_complete there.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accepted, "127.0.0.1", 0), self._loop
        ).result(10)
        self.port: int = self._server.sockets[0].getsockname()[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def open_now(self) -> int:
        with self._lock:
            return sum(self._open.values())

    def finished(self, at_least: int = 0) -> list[Connection]:
        """The connections the client has hung up; waits a little for
        ``at_least`` of them, as the server learns it a moment later."""
        deadline = time.monotonic() + 10
        while True:
            with self._lock:
                found = [c for c in self.connections if c.closed is not None]
            if len(found) >= at_least or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    # -- the server's side -----------------------------------------------------

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection("", time.monotonic())
        try:
            if self.http:
                connection.path = await _read_request(reader)
            with self._lock:
                self.connections.append(connection)
                self._open[connection.path] += 1
                self.most_open = max(self.most_open, sum(self._open.values()))
                self.most_open_per_path[connection.path] = max(
                    self.most_open_per_path[connection.path], self._open[connection.path]
                )
            # Whatever the client sends (a TLS hello) is read and dropped
            # until it hangs up.
            gone = asyncio.ensure_future(_until_eof(reader))
            writer.write(self.answer[: self.at_once])
            for index in range(self.at_once, len(self.answer)):
                await asyncio.wait({gone}, timeout=self.every)
                if gone.done():
                    break
                writer.write(self.answer[index : index + 1])
                await writer.drain()
            await gone
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with self._lock:
                connection.closed = time.monotonic()
                if connection in self.connections:
                    self._open[connection.path] -= 1
            writer.close()

    async def _stop(self) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(4096):
        pass


async def _read_request(reader: asyncio.StreamReader) -> str:
    """Read one HTTP request; its path."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    lines = head.split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return lines[0].split(" ")[1]


@contextmanager
def running_drip_server(
    answer: bytes, every: float, *, http: bool = False, at_once: int = 0
) -> Iterator[DripServer]:
    server = DripServer(answer, every, http=http, at_once=at_once)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server._stop(), server._loop).result(10)
        server._loop.call_soon_threadsafe(server._loop.stop)
        server._thread.join(10)
        server._loop.close()
