"""Benchmark circusd's memory under fuzzed requests: RSS before and after.

One circusd per implementation (ours; Circus 0.19 when ``CIRCUS019_PYTHON``
names its interpreter) with a watcher ``w`` of N ``/bin/sleep`` workers. One
raw ZeroMQ DEALER sends ``--requests`` fuzzed bodies, one at a time, each
answered before the next is sent (a body 0.19 never answers counts as
``unanswered`` after ``--reply-timeout``, and the client connects anew: a
run of 0.19 takes minutes for that reason). The bodies, from a seeded
``random.Random`` (``--seed``), mix:

* random bytes (invalid UTF-8 and encoded surrogates included);
* random JSON values that are not requests;
* with ``--big-share F`` (default 0), that share of requests of up to 4 MiB
  (a long list of small objects; most are over the 1 MiB default
  ``max_message_size``, the others are parsed);
* requests for a random command (read commands on real names; changing
  commands only on names no watcher has, so nothing changes) with random
  properties and ids.

Printed: circusd's RSS after a warm-up of 200 requests, after every quarter
of the run, and the growth; requests per second. Nothing is asserted.

Usage::

    CIRCUS019_PYTHON=/work/venv019/bin/python \\
        python benchmarks/bench_fuzz_rss.py [--requests 10000] [--workers 10]
        [--seed 1] [--big-share 0.01] [--only ours|0.19] [--set KEY=VALUE ...]
"""

import argparse
import json
import os
import random
import sys
import time

import psutil
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

READS = ["status", "list", "stats", "dstats", "numprocesses", "numwatchers", "options", "get",
         "globaloptions", "listsockets", "frobnicate", "STATUS"]  # fmt: skip
CHANGERS = ["add", "decr", "incr", "kill", "reload", "set", "signal", "start", "stop"]
KEYS = ["name", "nb", "waiting", "pid", "signum", "keys", "options", "match", "process", "extended",
        "childpid", "children", "recursive", "cmd", "args", "start", "graceful_timeout"]  # fmt: skip


def random_text(rng, size=12):
    return "".join(chr(rng.choice([rng.randint(32, 126), rng.randint(0xA0, 0x2FFF)])) for _ in range(rng.randint(0, size)))


def random_value(rng, depth=0):
    kind = rng.randint(0, 7 if depth < 3 else 4)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randint(-(2**40), 2**40)
    if kind == 3:
        return rng.random() * 1e6
    if kind == 4:
        return random_text(rng)
    if kind == 5:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {random_text(rng, 8): random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def random_bytes(rng):
    body = bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 200)))
    if rng.random() < 0.3:  # a request whose text holds an encoded surrogate
        body = b'{"command": "status", "id": "\xed\xa0\x80%s"}' % body[:8].hex().encode()
    return body


def random_request(rng):
    if rng.random() < 0.5:
        command = rng.choice(READS)
        name = rng.choice(["w", "W", "nope-%d" % rng.randint(0, 99), random_value(rng)])
    else:
        command = rng.choice(CHANGERS)
        name = "nope-%d" % rng.randint(0, 10**6)
    props = {rng.choice(KEYS + [random_text(rng, 6)]): random_value(rng) for _ in range(rng.randint(0, 5))}
    props["name"] = name
    return {"command": command, "properties": props, "id": random_value(rng)}


def big_request(rng):
    """A request of up to 4 MiB: a long list of small objects (most over the 1 MiB default limit)."""
    items = [{"k": str(i)} for i in range(rng.randint(1000, 300000))]
    return json.dumps({"command": rng.choice(READS), "properties": {"x": items}, "id": 1}).encode()


def fuzzed_body(rng, big_share):
    if rng.random() < big_share:
        return big_request(rng)
    roll = rng.random()
    if roll < 0.25:
        return random_bytes(rng)
    if roll < 0.4:
        return json.dumps(random_value(rng)).encode()
    return json.dumps(random_request(rng)).encode()


def fuzz(client, rng, count, timeout, big_share=0.0):
    """Send ``count`` bodies, each after the previous reply; the number never answered.

    After a body that is not answered the client connects anew: 0.19 may
    leave a connection deaf.
    """
    unanswered = 0
    for _ in range(count):
        client.sock.send(fuzzed_body(rng, big_share))
        if client.sock.poll(timeout * 1000):
            client.sock.recv()
        else:
            unanswered += 1
            client.reconnect()
    return unanswered


class Client:
    """One DEALER on ``endpoint``, replaced by ``reconnect()``."""

    def __init__(self, context, endpoint):
        self.context, self.endpoint, self.sock = context, endpoint, None
        self.reconnect()

    def reconnect(self):
        self.close()
        self.sock = self.context.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect(self.endpoint)

    def close(self):
        if self.sock is not None:
            self.sock.close()


def measure(daemon, args, context):
    daemon.launch()
    daemon.wait_workers(args.workers, timeout=60)
    daemon.wait_for_control().close()
    proc = psutil.Process(daemon.pid)
    sock = Client(context, daemon.endpoint)
    rng = random.Random(args.seed)
    figures = {"unanswered": fuzz(sock, rng, 200, args.reply_timeout)}
    figures["rss_start"] = proc.memory_info().rss / 2**20
    started = time.perf_counter()
    quarter = args.requests // 4
    for step in range(1, 5):
        figures["unanswered"] += fuzz(sock, rng, quarter, args.reply_timeout, args.big_share)
        daemon.check_alive()
        figures["rss_%d" % step] = proc.memory_info().rss / 2**20
    figures["rate"] = 4 * quarter / (time.perf_counter() - started)
    figures["growth"] = figures["rss_4"] - figures["rss_start"]
    sock.close()
    return figures


ROWS = [
    ("rss_start", "RSS after 200 warm-up requests", "MB"),
    ("rss_1", "RSS after 1/4", "MB"),
    ("rss_2", "RSS after 2/4", "MB"),
    ("rss_3", "RSS after 3/4", "MB"),
    ("rss_4", "RSS after all", "MB"),
    ("growth", "RSS growth", "MB"),
    ("rate", "fuzzed requests answered per second", "/s"),
    ("unanswered", "requests never answered", ""),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--big-share", type=float, default=0.0, help="share of requests of up to 4 MiB")
    parser.add_argument("--reply-timeout", type=float, default=0.5, help="seconds to wait for each reply")
    parser.add_argument("--only", choices=["ours", "0.19"])
    harness.add_set_option(parser)
    args = parser.parse_args(argv)
    harness.install_sigterm_as_interrupt()
    context = zmq.Context()
    try:
        for impl in harness.implementations(args.only):
            with harness.Daemon(impl, args.workers, context, args.circus_options) as daemon:
                try:
                    figures = measure(daemon, args, context)
                except Exception as exc:
                    harness.report_failure(impl, args.workers, exc, daemon)
                    continue
            print("%s, %d fuzzed requests (%g big), %d workers:"
                  % (impl.name, args.requests, args.big_share, args.workers))
            for key, label, unit in ROWS:
                print("    %-40s %10.1f %s" % (label, figures[key], unit))
    except KeyboardInterrupt:
        print("interrupted; every process started was killed", file=sys.stderr)
        return 130
    finally:
        context.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
