"""Output throughput: a worker writes 200 MB to stdout as fast as it can into a FileStream.

Prints MB/s end to end and circusd's CPU seconds while it lasts, beside a
plain pipe-to-file copy of the same bytes (the limit), and circus 0.19 when
CIRCUS019_PYTHON names an interpreter that has it installed. With
``--max-bytes`` the stream rotates by size (every file kept), and
``--line N`` makes the output lines of N bytes instead of one endless line.

    python benchmarks/bench_streams.py [--mb 200] [--repeat 3] [--max-bytes 1000000] [--line 100]
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

WRITER = """
import os, sys
line = {line}
chunk = line * (65536 // len(line))
for _ in range({chunks}):
    view = memoryview(chunk)
    while view:
        view = view[os.write(1, view):]
import time
time.sleep(3600)
"""

INI = """
[circus]
endpoint = ipc://{dir}/ctl.sock
pubsub_endpoint = ipc://{dir}/pub.sock
stats_endpoint = ipc://{dir}/stats.sock
multicast_endpoint = udp://237.219.251.97:{port}
logoutput = {dir}/circusd.log

[watcher:writer]
cmd = {python} {dir}/writer.py
respawn = false
graceful_timeout = 1
stdout_stream.class = FileStream
stdout_stream.filename = {dir}/out.log
"""

ROTATION = """stdout_stream.max_bytes = {max_bytes}
stdout_stream.backup_count = {backups}
"""


def cpu_seconds(pid):
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def written(path):
    """Bytes in ``path`` and its rotated copies ``path.N``."""
    directory, name = os.path.split(path)
    total = 0
    for entry in os.listdir(directory):
        if entry == name or entry.startswith(name + "."):
            try:
                total += os.path.getsize(os.path.join(directory, entry))
            except FileNotFoundError:
                pass  # rotated away meanwhile
    return total


def wait_for_size(path, size, deadline, rotating=False):
    measure = written if rotating else os.path.getsize
    while time.monotonic() < deadline:
        try:
            if measure(path) >= size:
                return True
        except FileNotFoundError:
            pass
        time.sleep(0.002)
    return False


def run_circusd(python, total, chunks, line, max_bytes):
    directory = tempfile.mkdtemp(prefix="bench-streams-")
    try:
        with open(os.path.join(directory, "writer.py"), "w") as handle:
            handle.write(WRITER.format(chunks=chunks, line=line))
        ini = os.path.join(directory, "circus.ini")
        with open(ini, "w") as handle:
            handle.write(INI.format(dir=directory, python=sys.executable, port=20000 + os.getpid() % 10000))
            if max_bytes:
                # Files end under max_bytes: twice the quotient keeps them all.
                handle.write(ROTATION.format(max_bytes=max_bytes, backups=2 * (total // max_bytes) + 2))
        env = dict(os.environ, PYTHONPATH=ROOT if python == sys.executable else "")
        started = time.monotonic()
        proc = subprocess.Popen(
            [python, "-c", "from circus.circusd import main; main()", ini],
            cwd=directory,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            # Timed from the first byte: circusd's own start is not output work.
            out = os.path.join(directory, "out.log")
            ok = wait_for_size(out, 1, started + 60)
            first, cpu_before = time.monotonic(), cpu_seconds(proc.pid)
            ok = ok and wait_for_size(out, total, started + 300, rotating=bool(max_bytes))
            elapsed = time.monotonic() - first
            cpu = cpu_seconds(proc.pid) - cpu_before
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return (total / 1e6 / elapsed if ok else float("nan")), cpu
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run_plain_copy(total, chunks, line):
    directory = tempfile.mkdtemp(prefix="bench-copy-")
    try:
        writer = os.path.join(directory, "writer.py")
        with open(writer, "w") as handle:
            handle.write(WRITER.format(chunks=chunks, line=line).replace("time.sleep(3600)", "pass"))
        out = os.path.join(directory, "out.log")
        started = time.monotonic()
        with open(out, "wb") as target:
            proc = subprocess.Popen([sys.executable, writer], stdout=subprocess.PIPE)
            while True:
                data = os.read(proc.stdout.fileno(), 65536)
                if not data:
                    break
                target.write(data)
            proc.wait()
        return total / 1e6 / (time.monotonic() - started), None
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="megabytes the worker writes")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians are shown")
    parser.add_argument("--max-bytes", type=int, default=0, help="rotate the FileStream at this size")
    parser.add_argument("--line", type=int, default=0, help="bytes of each output line (0: no newline)")
    args = parser.parse_args(argv)
    line = b"x" * (args.line - 1) + b"\n" if args.line else b"x" * 65536
    chunks = args.mb * 1000000 // 65536
    total = chunks * (65536 // len(line)) * len(line)
    runs = {
        "plain copy": lambda: run_plain_copy(total, chunks, line),
        "circus (ours)": lambda: run_circusd(sys.executable, total, chunks, line, args.max_bytes),
    }
    other = os.environ.get("CIRCUS019_PYTHON")
    if other:
        runs["circus 0.19"] = lambda: run_circusd(other, total, chunks, line, args.max_bytes)
    results = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, run in runs.items():  # interleaved
            results[name].append(run())
    shape = "lines of %d bytes" % args.line if args.line else "no newlines"
    rotation = ", rotated every %d bytes" % args.max_bytes if args.max_bytes else ""
    print("%d MB through stdout into a FileStream, %s%s (%d runs, medians)"
          % (total // 1000000, shape, rotation, args.repeat))
    print("%-16s %10s %14s" % ("", "MB/s", "circusd CPU-s"))
    for name, figures in results.items():
        speed = statistics.median(f[0] for f in figures)
        cpus = [f[1] for f in figures if f[1] is not None]
        cpu = "%.2f" % statistics.median(cpus) if cpus else "-"
        print("%-16s %10.0f %14s" % (name, speed, cpu))


if __name__ == "__main__":
    main()
