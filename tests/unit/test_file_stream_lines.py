"""FileStream rotation by size splits chunks at line boundaries.

The contract (docs/streams.rst): a file stays under ``max_bytes``, except
that a line begun in a file is ended there (unless the file is already
full) and a line that alone reaches ``max_bytes`` gets a file of its own.
"""

import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from circus.stream import FileStream


def entry(data, pid=42):
    return {"data": data, "pid": pid, "name": "stdout"}


def files_oldest_first(directory, name="out.log"):
    """Contents of ``name.N`` ... ``name.1``, ``name``."""
    backups = [p for p in os.listdir(directory) if p.startswith(name + ".")]
    backups.sort(key=lambda p: -int(p.rsplit(".", 1)[1]))
    contents = []
    for path in backups + [name]:
        with open(os.path.join(directory, path), "rb") as handle:
            contents.append(handle.read())
    return contents


def without_last_line(content):
    return len(content) - len(content.splitlines(True)[-1])


def test_a_64k_chunk_of_lines_is_split_at_line_boundaries_across_rotations(tmp_path):
    stream = FileStream(filename=str(tmp_path / "out.log"), max_bytes=10000, backup_count=20)
    lines = [b"%099d\n" % i for i in range(655)]  # 100 bytes each
    chunk = b"".join(lines)
    stream(entry(chunk))
    stream.close()
    files = files_oldest_first(tmp_path)
    assert b"".join(files) == chunk
    # Rotated before the line that would reach 10000: 99 lines a file.
    assert [len(f) for f in files] == [9900] * 6 + [655 * 100 - 6 * 9900]
    assert all(f.endswith(b"\n") for f in files)


def test_a_chunk_fills_the_current_file_before_the_rest_goes_to_the_next(tmp_path):
    path = tmp_path / "out.log"
    stream = FileStream(filename=str(path), max_bytes=100, backup_count=5)
    stream(entry(b"a" * 59 + b"\n"))  # 60 bytes
    stream(entry(b"b" * 29 + b"\n" + b"c" * 29 + b"\n"))  # the b line fits, the c line does not
    stream.close()
    assert files_oldest_first(tmp_path) == [b"a" * 59 + b"\n" + b"b" * 29 + b"\n", b"c" * 29 + b"\n"]


def test_a_line_longer_than_max_bytes_is_alone_in_its_file(tmp_path):
    stream = FileStream(filename=str(tmp_path / "out.log"), max_bytes=50, backup_count=5)
    long_line = b"L" * 120 + b"\n"
    stream(entry(b"before\n" + long_line + b"after\n"))
    stream.close()
    assert files_oldest_first(tmp_path) == [b"before\n", long_line, b"after\n"]


def test_a_line_begun_in_a_file_is_ended_there(tmp_path):
    stream = FileStream(filename=str(tmp_path / "out.log"), max_bytes=50, backup_count=5)
    stream(entry(b"x" * 40 + b"\n" + b"partial "))  # 49 bytes, the last line open
    stream(entry(b"end of it\n" + b"next\n"))
    stream.close()
    assert files_oldest_first(tmp_path) == [b"x" * 40 + b"\npartial end of it\n", b"next\n"]


def test_output_without_newlines_still_rotates_once_a_file_is_full(tmp_path):
    stream = FileStream(filename=str(tmp_path / "out.log"), max_bytes=100, backup_count=50)
    for _ in range(10):
        stream(entry(b"z" * 70))
    stream.close()
    files = files_oldest_first(tmp_path)
    assert b"".join(files) == b"z" * 700
    assert len(files) > 1 and all(len(f) < 200 for f in files)


def test_without_backups_the_file_keeps_the_latest_lines_of_a_big_chunk(tmp_path):
    path = tmp_path / "out.log"
    stream = FileStream(filename=str(path), max_bytes=1000, backup_count=0)
    lines = [b"%09d\n" % i for i in range(1000)]  # 10 bytes each
    stream(entry(b"".join(lines)))
    stream.close()
    assert os.listdir(tmp_path) == ["out.log"]
    # 99 lines a file: the tenth emptying leaves the last 10 lines.
    assert path.read_bytes() == b"".join(lines[990:])


def test_time_format_prefixes_survive_a_rotation_inside_a_chunk(tmp_path):
    stream = FileStream(filename=str(tmp_path / "out.log"), max_bytes=200, backup_count=20,
                        time_format="%H:%M:%S")
    text = b"".join(b"line %03d\n" % i for i in range(60))
    for start in range(0, len(text), 37):  # chunks cut mid-line
        stream(entry(text[start:start + 37], pid=7))
    stream.close()
    files = files_oldest_first(tmp_path)
    prefixed = re.compile(rb"^\d\d:\d\d:\d\d \[7\] \| line \d{3}$")
    lines = [line for f in files for line in f.split(b"\n")[:-1]]
    assert all(f.endswith(b"\n") for f in files)
    assert [prefixed.match(line) is not None for line in lines] == [True] * 60
    assert [int(line[-3:]) for line in lines] == list(range(60))


@settings(max_examples=150, deadline=None)
@given(
    max_bytes=st.integers(min_value=5, max_value=120),
    lines=st.lists(st.integers(min_value=0, max_value=150), min_size=1, max_size=60),
    cuts=st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=40),
)
def test_no_file_exceeds_max_bytes_by_more_than_its_last_line(tmp_path_factory, max_bytes, lines, cuts):
    directory = tmp_path_factory.mktemp("rot")
    written = b"".join(b"%d" % (i % 10) * length + b"\n" for i, length in enumerate(lines))
    stream = FileStream(filename=str(directory / "out.log"), max_bytes=max_bytes, backup_count=1000)
    start, index = 0, 0
    while start < len(written):
        size = cuts[index % len(cuts)]
        stream(entry(written[start:start + size]))
        start, index = start + size, index + 1
    stream.close()
    files = files_oldest_first(directory)
    assert b"".join(files) == written
    for older, newer in zip(files, files[1:]):
        assert older, "an empty backup"
        assert without_last_line(older) < max_bytes
        if not older.endswith(b"\n"):
            # A line is cut only when its file was already full.
            assert len(older) >= max_bytes
    assert not files[-1] or without_last_line(files[-1]) < max_bytes
