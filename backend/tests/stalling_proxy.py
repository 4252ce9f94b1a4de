"""A TCP proxy between the app and a database server that can stall, for tests of a database that stops answering.

It runs in a thread of its own, with an event loop of its own, so it keeps working whatever the test's or the app's
loop is doing. Three things happen to it:

- `freeze()`: nothing moves any more, as when the server process is stopped (SIGSTOP): connections are still
  accepted (the kernel of a stopped server accepts them too) and what is sent is held, not lost; `thaw()` delivers
  it, even what a client sent before it gave up and closed (a stopped server reads it when it resumes);
- `cut()`: every open connection is closed at once, as when the server restarts or the network drops them; new
  connections work.
"""

import asyncio
import contextlib
import threading


class StallingProxy:
    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="stalling-proxy", daemon=True)
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._moving: asyncio.Event | None = None
        self._server: asyncio.Server | None = None

    def __enter__(self) -> "StallingProxy":
        self.thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *_exc: object) -> None:
        self._call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()

    def freeze(self) -> None:
        self.loop.call_soon_threadsafe(self._moving.clear)  # type: ignore[union-attr]

    def thaw(self) -> None:
        self.loop.call_soon_threadsafe(self._moving.set)  # type: ignore[union-attr]

    def cut(self) -> None:
        self._call(self._cut())

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    async def _start(self) -> None:
        self._moving = asyncio.Event()
        self._moving.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._moving is not None and self._server is not None
        self._moving.set()
        self._server.close()
        await self._cut()

    async def _cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        assert self._moving is not None
        self._writers.add(client_writer)
        await self._moving.wait()  # a frozen server has not even sent its greeting
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.add(server_writer)
        await asyncio.gather(
            self._pump(client_reader, server_writer), self._pump(server_reader, client_writer), return_exceptions=True
        )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._moving is not None
        try:
            while data := await reader.read(65536):
                await self._moving.wait()
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()
