"""One Redis connection per API process whose concurrent commands leave together.

Every command issued during one event-loop iteration is written to the socket in one
``write``; Redis reads them in one go and answers them in order, and the replies are handed
back to their callers in that order. That is Redis pipelining, done for callers that each
send one command, as ioredis's "auto pipelining" does for Node.

PERF: one connection per call costs the API a write and a read system call per ticket and
Redis an ``epoll`` round per few tickets; coalescing pays them once per loop iteration
(bench_intake, issue 16: CPU per accepted ticket x0.56-0.79 in the same run, API and Redis
together). redis-py has no such mode, so this is the small part
of a client the accept path needs: TCP only, RESP2 replies parsed by hiredis (which redis-py
already brings), AUTH and SELECT from the URL, and one deadline for every call.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, cast

import hiredis
from redis.connection import parse_url

from mvr.errors import StoreUnavailable

__all__ = ["PipelinedRedis", "ReplyError", "can_pipeline"]

#: A Redis command's arguments, as ``hiredis.pack_command`` takes them.
CommandArg = str | bytes | int | float


def can_pipeline(url: str) -> bool:
    """Whether ``url`` is a plain TCP Redis that :class:`PipelinedRedis` can talk to."""
    return url.startswith("redis://")


class ReplyError(Exception):
    """Redis answered a command with an error (``-ERR …``, ``-NOSCRIPT …``)."""


#: Error replies that mean "Redis cannot serve right now", not "the command is wrong".
_UNAVAILABLE_REPLIES = ("LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN")


def _as_unavailable(reply: ReplyError) -> Exception:
    """``StoreUnavailable`` for a Redis that is starting or busy; the reply itself otherwise."""
    if str(reply).startswith(_UNAVAILABLE_REPLIES):
        return StoreUnavailable(f"Redis unavailable: {reply}")
    return reply


class _Protocol(asyncio.Protocol):
    """One connection: writes coalesced commands, hands replies to their callers in order.

    Args:
        timeout_s: The longest a caller waits for its reply; past it the connection is dropped
            and every waiting caller fails with ``StoreUnavailable``.
    """

    def __init__(self, timeout_s: float) -> None:
        self.transport: asyncio.Transport | None = None
        #: The event loop the connection belongs to (another loop needs another connection).
        self.loop = asyncio.get_running_loop()
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self._timeout_s = timeout_s
        #: Callers waiting for a reply, oldest first, with the loop time their command was queued.
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._reader = hiredis.Reader(replyError=ReplyError)
        self._outbox: list[bytes] = []
        self._watchdog: asyncio.TimerHandle | None = None

    def serves(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether this connection is open and belongs to ``loop``."""
        return self.loop is loop and not self.lost.done()

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        """Queue one packed command for this loop iteration's write; its reply fills the future."""
        future: asyncio.Future[Any] = self.loop.create_future()
        now = self.loop.time()
        self._waiting.append((future, now))
        if not self._outbox:
            self.loop.call_soon(self._flush)
        self._outbox.append(packed)
        if self._watchdog is None:
            self._watchdog = self.loop.call_at(now + self._timeout_s, self._check_deadline)
        return future

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            future, _ = self._waiting.popleft()
            if future.done():  # its caller gave up (cancelled); the reply is dropped
                continue
            if isinstance(reply, ReplyError):
                future.set_exception(_as_unavailable(reply))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"Redis unavailable: connection lost ({exc or 'closed'})")
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if not self.lost.done():
            self.lost.set_result(None)

    def close(self) -> None:
        """Close the connection (callers still waiting fail)."""
        if self.transport is not None:
            self.transport.close()

    def _flush(self) -> None:
        outbox, self._outbox = self._outbox, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.writelines(outbox)

    def _check_deadline(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        oldest = self._waiting[0][1]
        if self.loop.time() - oldest < self._timeout_s:
            self._watchdog = self.loop.call_at(oldest + self._timeout_s, self._check_deadline)
            return
        self._fail(f"Redis unavailable: no reply within {self._timeout_s:g} s")
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, message: str) -> None:
        """Fail every waiting caller with its own ``StoreUnavailable(message)``."""
        while self._waiting:
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_exception(StoreUnavailable(message))


class PipelinedRedis:
    """Send commands over one shared connection, coalesced per event-loop iteration.

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]``.
        timeout_s: How long a call may wait for its connection or its reply before it fails
            with ``StoreUnavailable`` (the connection is then dropped and made again).
    """

    def __init__(self, url: str, timeout_s: float) -> None:
        options = parse_url(url)  # type: ignore[no-untyped-call]
        self._host = options.get("host", "localhost")
        self._port = int(options.get("port", 6379))
        self._hello = _hello_commands(options)
        self._timeout_s = timeout_s
        self._protocol: _Protocol | None = None
        #: The lock that lets one caller at a time connect, with the loop it belongs to.
        self._connecting: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    async def execute(self, *args: CommandArg) -> Any:
        """Run one command and return its reply.

        Raises:
            ReplyError: Redis answered with an error.
            StoreUnavailable: No connection, or no reply within ``timeout_s``.
        """
        protocol = self._protocol
        if protocol is None or not protocol.serves(asyncio.get_running_loop()):
            protocol = await self._connect()
        return await protocol.send(_pack(args))

    async def close(self) -> None:
        """Close the connection (callers still waiting fail)."""
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.close()
            await protocol.lost

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        if self._connecting is None or self._connecting[0] is not loop:
            self._connecting = (loop, asyncio.Lock())
        async with self._connecting[1]:
            if self._protocol is not None and self._protocol.serves(loop):
                return self._protocol
            protocol = None
            try:
                async with asyncio.timeout(self._timeout_s):
                    _, protocol = await loop.create_connection(
                        lambda: _Protocol(self._timeout_s), self._host, self._port
                    )
                    for command in self._hello:
                        await protocol.send(_pack(command))
            except (OSError, TimeoutError, ReplyError, StoreUnavailable) as ex:
                if protocol is not None:
                    protocol.close()
                raise StoreUnavailable(
                    f"Redis unavailable: cannot connect to {self._host}:{self._port} ({ex!r})"
                ) from ex
            self._protocol = protocol
            return protocol


def _pack(command: tuple[CommandArg, ...]) -> bytes:
    """One command in RESP, packed in C."""
    packed: bytes = hiredis.pack_command(command)  # type: ignore[arg-type]  # the stub types a 1-tuple
    return packed


def _hello_commands(options: dict[str, Any]) -> list[tuple[CommandArg, ...]]:
    """AUTH and SELECT, as the URL asks for them."""
    commands: list[tuple[CommandArg, ...]] = []
    if options.get("password"):
        user = options.get("username")
        commands.append(("AUTH", user, options["password"]) if user else ("AUTH", options["password"]))
    if options.get("db"):
        commands.append(("SELECT", int(options["db"])))
    return commands
