"""LogRing: lines from the chunks a redirector reads, bounded in bytes, newest kept."""

from types import SimpleNamespace

from circus.stream.logring import LogRing


class Arbiter:
    def __init__(self):
        self.published = []

    def publish(self, topic, payload):
        self.published.append((topic, payload))


def ring(size):
    watcher = SimpleNamespace(name="Web", res_name="web", log_buffer_size=size, arbiter=Arbiter())
    return LogRing(watcher), watcher


def chunk(data, pid=7, name="stdout"):
    return {"data": data, "pid": pid, "name": name}


def texts(r, **kw):
    return [line["line"] for line in r.lines(**kw)]


def test_a_line_split_between_chunks_is_one_line_and_end_of_file_ends_the_last_one():
    r, watcher = ring(1000)
    r.feed(chunk(b"hel"))
    r.feed(chunk(b"lo\nwor"))
    r.feed(chunk(b"ld", pid=8))
    assert texts(r) == ["hello"]
    r.feed(chunk(b""))  # end of file of pid 7
    r.feed(chunk(b"\n", pid=8))
    assert texts(r) == ["hello", "wor", "ld"]
    topics = [topic for topic, _ in watcher.arbiter.published]
    assert topics == ["log.web.stdout"] * 3
    assert watcher.arbiter.published[0][1]["lines"] == ["hello"]
    assert watcher.arbiter.published[0][1]["watcher"] == "Web"


def test_a_flood_keeps_the_newest_lines_within_the_size():
    r, _ = ring(100)
    for i in range(10000):
        r.feed(chunk(b"line %04d\n" % i))
    kept = texts(r)
    assert r.bytes <= 100 and sum(len(t) + 1 for t in kept) == r.bytes
    assert kept == ["line %04d" % i for i in range(10000 - len(kept), 10000)] and len(kept) == 10


def test_a_line_longer_than_the_ring_is_cut_and_a_character_split_between_chunks_survives():
    r, _ = ring(4)
    r.feed(chunk(b"abcdefghij"))
    assert texts(r) == ["ghi"] and r.bytes == 4  # each piece and its newline fill the ring
    r.feed(chunk(b""))
    assert texts(r) == ["j"]
    r, _ = ring(100)
    r.feed(chunk("é".encode()[:1]))
    r.feed(chunk("é".encode()[1:] + b"\n"))
    assert texts(r) == ["é"]


def test_filters_and_size_zero():
    r, watcher = ring(1000)
    r.feed(chunk(b"a\nb\n"))
    r.feed(chunk(b"oops\n", name="stderr"))
    assert texts(r, stream="stdout") == ["a", "b"]
    assert texts(r, count=2) == ["b", "oops"]
    assert texts(r, count=0) == []
    watcher.log_buffer_size = 5  # a set lowers it: the next read keeps what fits
    assert texts(r) == ["oops"] and r.bytes == 5
    watcher.log_buffer_size = 0
    assert texts(r) == [] and r.bytes == 0
    r.feed(chunk(b"c\n"))
    assert texts(r) == [] and r.bytes == 0
