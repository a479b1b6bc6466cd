"""Reload and restart put a new listener under a watcher's socket (see CircusSocket.hand_over)."""

import os

from circus.sockets import CircusSocket
from helpers import SLEEPER, async_test, controlled, until_async


def listener_of(pid, fd):
    """``socket:[inode]`` of ``fd`` in process ``pid``."""
    return os.readlink("/proc/%d/fd/%d" % (pid, fd))


def watcher(name, sock, numprocesses=2):
    return {"name": name, "cmd": SLEEPER, "args": "$(circus.sockets.%s)" % sock,
            "use_sockets": True, "numprocesses": numprocesses, "graceful_timeout": 5}


async def replaced(arbiter, name, send, command):
    reply = await send(command, name=name, waiting=True)
    assert reply["status"] == "ok", reply
    watcher = arbiter.get_watcher(name)
    await until_async(lambda: len(watcher.pids) == watcher.numprocesses, timeout=10)
    return watcher.pids


@async_test
async def test_reload_and_restart_give_the_new_processes_a_new_listener_under_the_same_fd(tmp_path, tracker):
    sock = CircusSocket("web", host="127.0.0.1", port=0)
    async with controlled(tmp_path, [watcher("web", "web")], sockets=[sock]) as (arbiter, send):
        fd = sock.fileno()
        seen = {listener_of(os.getpid(), fd)}
        for command in ("reload", "restart"):
            pids = await replaced(arbiter, "web", send, command)
            now = listener_of(os.getpid(), fd)
            assert now not in seen, "%s kept the old listener" % command
            assert {listener_of(pid, fd) for pid in pids} == {now}
            seen.add(now)


@async_test
async def test_a_socket_another_watcher_uses_is_not_handed_over(tmp_path, tracker):
    sock = CircusSocket("web", host="127.0.0.1", port=0)
    watchers = [watcher("web", "web"), watcher("other", "web", numprocesses=1)]
    async with controlled(tmp_path, watchers, sockets=[sock]) as (arbiter, send):
        before = listener_of(os.getpid(), sock.fileno())
        await replaced(arbiter, "web", send, "reload")
        assert listener_of(os.getpid(), sock.fileno()) == before
        (other,) = arbiter.get_watcher("other").pids
        assert listener_of(other, sock.fileno()) == before
