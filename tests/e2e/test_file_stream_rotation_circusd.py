"""FileStream rotation by size through a real circusd: big reads are split at lines."""

from helpers import python, until

# Writes 64 KiB worth of 100-byte lines in one write(2), then waits.
BURST = """
import os, time
data = b"".join((b"line %04d " % i).ljust(99, b".") + b"\\n" for i in range(655))
view = memoryview(data)
while view:
    view = view[os.write(1, view):]
while True:
    time.sleep(60)
"""


def test_a_burst_of_lines_is_rotated_at_line_boundaries(circusd, tmp_path):
    out = tmp_path / "out.log"
    daemon = circusd()
    daemon.write_ini("""
        [watcher:burst]
        cmd = %s
        graceful_timeout = 1
        stdout_stream.class = FileStream
        stdout_stream.filename = %s
        stdout_stream.max_bytes = 10000
        stdout_stream.backup_count = 10
        """ % (python(BURST), out))
    daemon.start()
    files = [out.with_name("out.log.%d" % n) for n in range(10, 0, -1)] + [out]

    def written():
        return sum(f.stat().st_size for f in files if f.exists())

    until(lambda: written() == 65500, timeout=20,
          what="65500 bytes in the files, have %s; log:\n%s" % (written(), daemon.log()[-2000:]))
    contents = [f.read_bytes() for f in files if f.exists()]
    lines = b"".join(contents).splitlines()
    assert [int(line.split()[1]) for line in lines] == list(range(655))
    # Before: the read landed whole in one file of 19,800+ bytes.
    assert all(len(c) <= 9900 and c.endswith(b"\n") for c in contents), [len(c) for c in contents]
    assert daemon.terminate() == 0
