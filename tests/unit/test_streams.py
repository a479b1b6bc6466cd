"""The output streams: files, rotation, console, queue, and get_stream."""

import calendar
import logging
import os
import time

import pytest

from circus.stream import (
    FancyStdoutStream,
    FileStream,
    QueueStream,
    StdoutStream,
    TimedRotatingFileStream,
    WatchedFileStream,
    get_stream,
)


def entry(data, pid=42, name="stdout"):
    return {"data": data, "pid": pid, "name": name}


class FakeClock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def utc(*fields):
    return calendar.timegm(fields + (0,) * (6 - len(fields)))


def read(path):
    with open(path, "rb") as f:
        return f.read()


# -- FileStream ---------------------------------------------------------------


def test_file_stream_appends_bytes_unchanged_binary_included(tmp_path):
    path = tmp_path / "out.log"
    path.write_bytes(b"before\n")
    stream = FileStream(filename=str(path))
    payload = bytes(range(256)) + b"\xff\xfe no newline"
    stream(entry(payload))
    stream(entry(b"second"))
    stream.close()
    assert read(path) == b"before\n" + payload + b"second"


def test_file_stream_opens_lazily_and_reopens_after_close(tmp_path):
    path = tmp_path / "out.log"
    stream = FileStream(filename=str(path))
    assert not path.exists()
    stream.open()
    assert path.exists()
    stream.close()
    stream(entry(b"after close\n"))
    stream.close()
    assert read(path) == b"after close\n"


def test_file_stream_without_filename_writes_to_a_temp_file():
    stream = FileStream()
    try:
        stream(entry(b"x"))
        stream.close()
        assert read(stream.filename) == b"x"
    finally:
        os.unlink(stream.filename)


def test_file_stream_rotates_by_size_keeping_backup_count_backups(tmp_path):
    path = tmp_path / "out.log"
    stream = FileStream(filename=str(path), max_bytes="25", backup_count="2")
    chunks = [b"%09d\n" % i for i in range(10)]  # 10 bytes each: 2 per file
    for chunk in chunks:
        stream(entry(chunk))
    stream.close()
    assert sorted(os.listdir(tmp_path)) == ["out.log", "out.log.1", "out.log.2"]
    assert read(path) == b"".join(chunks[8:10])
    assert read(str(path) + ".1") == b"".join(chunks[6:8])
    assert read(str(path) + ".2") == b"".join(chunks[4:6])


def test_file_stream_rotation_loses_nothing_within_the_backups(tmp_path):
    path = tmp_path / "out.log"
    stream = FileStream(filename=str(path), max_bytes=1000, backup_count=50)
    written = b"".join(b"line %d of the output\n" % i for i in range(1000))
    for start in range(0, len(written), 77):  # chunks cut mid-line
        stream(entry(written[start:start + 77]))
    stream.close()
    backups = [p for p in os.listdir(tmp_path) if p != "out.log"]
    backups.sort(key=lambda p: -int(p.rsplit(".", 1)[1]))  # oldest (highest number) first
    assert len(backups) < 50
    assert b"".join(read(tmp_path / p) for p in backups) + read(path) == written
    for name in backups:
        # Whole lines only; over max_bytes only by the end of the line begun in it.
        kept = read(tmp_path / name)
        assert kept.endswith(b"\n")
        assert len(kept) - len(kept.splitlines(True)[-1]) < 1000


def test_file_stream_with_no_backups_empties_the_file_at_max_bytes(tmp_path):
    path = tmp_path / "out.log"
    stream = FileStream(filename=str(path), max_bytes="20", backup_count="0")
    for i in range(5):
        stream(entry(b"%07d\n" % i))  # 8 bytes
    stream.close()
    assert os.listdir(tmp_path) == ["out.log"]
    assert read(path) == b"0000004\n"


def test_a_chunk_larger_than_max_bytes_is_written_whole_without_empty_backups(tmp_path):
    path = tmp_path / "out.log"
    stream = FileStream(filename=str(path), max_bytes=10, backup_count=3)
    stream(entry(b"x" * 50))
    stream(entry(b"y" * 50))
    stream.close()
    assert read(path) == b"y" * 50
    assert read(str(path) + ".1") == b"x" * 50
    assert not os.path.exists(str(path) + ".2")


def test_two_streams_sharing_a_file_rotate_it_once(tmp_path):
    path = str(tmp_path / "out.log")
    out = FileStream(filename=path, max_bytes=30, backup_count=5)
    err = FileStream(filename=path, max_bytes=30, backup_count=5)
    out(entry(b"o" * 10 + b"\n"))
    err(entry(b"e" * 10 + b"\n"))
    out(entry(b"O" * 10 + b"\n"))  # 33 >= 30: rotates
    err(entry(b"E" * 10 + b"\n"))  # follows the new file, no second rotation
    out.close()
    err.close()
    assert read(path + ".1") == b"o" * 10 + b"\n" + b"e" * 10 + b"\n"
    assert read(path) == b"O" * 10 + b"\n" + b"E" * 10 + b"\n"
    assert not os.path.exists(path + ".2")


def test_file_stream_accepts_human_sizes_and_refuses_bad_numbers(tmp_path):
    assert FileStream(filename=str(tmp_path / "a"), max_bytes="10K").max_bytes == 10240
    with pytest.raises(ValueError, match="max_bytes"):
        FileStream(filename=str(tmp_path / "a"), max_bytes="lots")
    with pytest.raises(ValueError, match="backup_count"):
        FileStream(filename=str(tmp_path / "a"), backup_count="-1")


def test_time_format_prefixes_each_line_start_only_across_partial_chunks(tmp_path):
    path = tmp_path / "out.log"
    stream = FileStream(filename=str(path), time_format="%Y")
    stream.clock = FakeClock(utc(2024, 6, 15, 12))
    stream(entry(b"abc", pid=7))
    stream(entry(b"def\nghi\n", pid=7))
    stream(entry(b"\n", pid=7))
    stream(entry(b"par", pid=7))
    stream(entry(b"tial\n", pid=7))
    stream.close()
    assert read(path) == (
        b"2024 [7] | abcdef\n2024 [7] | ghi\n2024 [7] | \n2024 [7] | partial\n"
    )


def test_time_format_ends_an_open_line_when_another_pid_writes(tmp_path):
    path = tmp_path / "out.log"
    stream = FileStream(filename=str(path), time_format="T")
    stream(entry(b"half", pid=1))
    stream(entry(b"other\n", pid=2))
    stream(entry(b" rest\n", pid=1))
    stream.close()
    assert read(path) == b"T [1] | half\nT [2] | other\nT [1] |  rest\n"


def test_an_empty_chunk_writes_nothing(tmp_path):
    path = tmp_path / "out.log"
    stream = FileStream(filename=str(path), time_format="%H")
    stream(entry(b""))
    stream.close()
    assert not path.exists()


def test_write_errors_are_logged_once_and_never_raised_then_writing_resumes(tmp_path, caplog):
    directory = tmp_path / "missing"
    stream = FileStream(filename=str(directory / "out.log"))
    with caplog.at_level(logging.INFO, logger="circus.stream"):
        stream.open()
        stream(entry(b"lost 1\n"))
        stream(entry(b"lost 2\n"))
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert "out.log" in errors[0].getMessage()
        directory.mkdir()
        stream(entry(b"kept\n"))
    stream.close()
    assert read(directory / "out.log") == b"kept\n"
    assert any("again" in r.getMessage() for r in caplog.records)


def test_unknown_options_are_ignored_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="circus.stream"):
        FileStream(filename=str(tmp_path / "a"), max_byte="10")
    assert "max_byte" in caplog.text


# -- WatchedFileStream ----------------------------------------------------------


def test_watched_file_stream_reopens_after_the_file_is_renamed(tmp_path):
    path = tmp_path / "out.log"
    stream = WatchedFileStream(filename=str(path))
    stream(entry(b"one\n"))
    os.rename(path, str(path) + ".1")
    stream(entry(b"two\n"))
    stream.close()
    assert read(str(path) + ".1") == b"one\n"
    assert read(path) == b"two\n"


def test_watched_file_stream_recreates_a_deleted_file(tmp_path):
    path = tmp_path / "out.log"
    stream = WatchedFileStream(filename=str(path), time_format="X")
    stream(entry(b"one\n"))
    os.unlink(path)
    stream(entry(b"two\n"))
    stream.close()
    assert read(path) == b"X [42] | two\n"


# -- TimedRotatingFileStream ------------------------------------------------------


def timed(path, start, **options):
    stream = TimedRotatingFileStream(filename=str(path), utc="true", **options)
    stream.clock = FakeClock(start)
    return stream


def test_timed_rotation_by_seconds_names_backups_by_period_start(tmp_path):
    path = tmp_path / "out.log"
    start = utc(2024, 3, 1, 10, 20, 30)
    stream = timed(path, start, rotate_when="s", rotate_interval="5")
    stream(entry(b"a\n"))
    stream.clock.now = start + 4.9
    stream(entry(b"b\n"))
    stream.clock.now = start + 5
    stream(entry(b"c\n"))
    stream.close()
    assert read(str(path) + ".20240301102030") == b"a\nb\n"
    assert read(path) == b"c\n"


def test_a_line_left_open_by_the_chunk_that_rotated_gets_no_prefix_in_its_middle(tmp_path):
    path = tmp_path / "out.log"
    start = utc(2024, 3, 1, 10, 20, 30)
    stream = timed(path, start, rotate_when="s", rotate_interval="5", time_format="T")
    stream(entry(b"a\n", pid=3))
    stream.clock.now = start + 5
    stream(entry(b"b\nhal", pid=3))  # rotates first, then leaves a line open
    stream(entry(b"f\nc\n", pid=3))
    stream.close()
    assert read(str(path) + ".20240301102030") == b"T [3] | a\n"
    assert read(path) == b"T [3] | b\nT [3] | half\nT [3] | c\n"


def test_timed_rotation_at_midnight_accepts_lower_case(tmp_path):
    path = tmp_path / "out.log"
    stream = timed(path, utc(2024, 1, 1, 23, 59, 50), rotate_when="midnight")
    stream(entry(b"new year's day\n"))
    stream.clock.now = utc(2024, 1, 2, 0, 0, 1)
    stream(entry(b"the day after\n"))
    stream.close()
    assert sorted(os.listdir(tmp_path)) == ["out.log", "out.log.20240101"]
    assert read(str(path) + ".20240101") == b"new year's day\n"


def test_timed_rotation_weekly_waits_for_the_named_weekday(tmp_path):
    path = tmp_path / "out.log"
    wednesday = utc(2024, 1, 3, 12)
    stream = timed(path, wednesday, rotate_when="W0")  # Mondays
    stream(entry(b"a"))
    assert stream.rollover_at == utc(2024, 1, 8)
    stream.clock.now = utc(2024, 1, 7, 23, 59)
    stream(entry(b"b"))
    stream.clock.now = utc(2024, 1, 8, 0, 0, 1)
    stream(entry(b"c"))
    stream.close()
    assert read(str(path) + ".20240101") == b"ab"
    assert stream.rollover_at == utc(2024, 1, 15)


def test_timed_rotation_by_hours_prunes_beyond_backup_count(tmp_path):
    path = tmp_path / "out.log"
    start = utc(2024, 5, 5, 0, 30)
    stream = timed(path, start, rotate_when="H", backup_count="2")
    for hour in range(5):
        stream.clock.now = start + hour * 3600
        stream(entry(b"hour %d\n" % hour))
    stream.close()
    assert sorted(os.listdir(tmp_path)) == ["out.log", "out.log.2024050502", "out.log.2024050503"]
    assert read(path) == b"hour 4\n"
    assert read(str(path) + ".2024050503") == b"hour 3\n"


def test_timed_rotation_does_not_overwrite_an_existing_backup(tmp_path):
    path = tmp_path / "out.log"
    start = utc(2024, 5, 5, 0, 0)
    (tmp_path / "out.log.202405050000").write_bytes(b"older\n")
    stream = timed(path, start, rotate_when="M")
    stream(entry(b"newer\n"))
    stream.clock.now = start + 60
    stream(entry(b"next\n"))
    stream.close()
    assert read(str(path) + ".202405050000") == b"older\n"
    assert read(str(path) + ".202405050000.1") == b"newer\n"


def test_timed_rotation_counts_an_existing_file_from_its_last_change(tmp_path):
    path = tmp_path / "out.log"
    path.write_bytes(b"from before the restart\n")
    old = utc(2024, 5, 5, 8, 0)
    os.utime(path, (old, old))
    stream = timed(path, utc(2024, 5, 5, 10, 0), rotate_when="H")
    stream(entry(b"after\n"))
    stream.close()
    assert read(str(path) + ".2024050508") == b"from before the restart\n"
    assert read(path) == b"after\n"


def test_timed_rotation_options_are_converted_from_strings(tmp_path):
    stream = TimedRotatingFileStream(
        filename=str(tmp_path / "a"), rotate_when="D", rotate_interval="3", utc="False", backup_count="4"
    )
    assert (stream.utc, stream.rotate_interval, stream.backup_count) == (False, 3, 4)
    assert TimedRotatingFileStream(filename=str(tmp_path / "a"), rotate_when="D", utc="1").utc is True


def test_timed_rotation_in_local_time_rotates_at_local_midnight(tmp_path):
    path = tmp_path / "out.log"
    stream = TimedRotatingFileStream(filename=str(path), rotate_when="MIDNIGHT")
    stream.clock = FakeClock(time.mktime((2024, 2, 10, 15, 0, 0, 0, 0, -1)))
    stream(entry(b"x"))
    stream.close()
    assert stream.rollover_at == time.mktime((2024, 2, 11, 0, 0, 0, 0, 0, -1))


@pytest.mark.parametrize("when", [None, "", "fortnight", "W7", "midnightly"])
def test_timed_rotation_refuses_an_unknown_rotate_when(tmp_path, when):
    with pytest.raises(ValueError, match="rotate_when"):
        TimedRotatingFileStream(filename=str(tmp_path / "a"), rotate_when=when)


def test_timed_rotation_refuses_a_zero_interval_and_a_non_boolean_utc(tmp_path):
    with pytest.raises(ValueError, match="rotate_interval"):
        TimedRotatingFileStream(filename=str(tmp_path / "a"), rotate_when="H", rotate_interval="0")
    with pytest.raises(ValueError, match="utc"):
        TimedRotatingFileStream(filename=str(tmp_path / "a"), rotate_when="H", utc="maybe")


# -- QueueStream, StdoutStream, FancyStdoutStream -------------------------------------


def test_queue_stream_queues_each_entry():
    stream = QueueStream(ignored_option="1")
    first, second = entry(b"a", pid=1), entry(b"b", pid=2, name="stderr")
    stream(first)
    stream(second)
    assert stream.get_nowait() == first
    assert stream.get_nowait() == second
    assert stream.empty()


def test_stdout_stream_writes_decoded_text_even_when_a_character_is_split(capsys):
    stream = StdoutStream()
    encoded = "héllo wörld\n".encode()
    stream(entry(encoded[:2]))
    stream(entry(encoded[2:]))
    stream(entry(b"bad \xff byte\n"))
    assert capsys.readouterr().out == "héllo wörld\nbad \ufffd byte\n"


def test_fancy_stdout_stream_colors_each_non_empty_line(capsys):
    stream = FancyStdoutStream(color="green", time_format="%Y")
    stream.clock = FakeClock(utc(2024, 6, 15, 12))
    stream(entry(b"one\n\ntwo\n", pid=9))
    assert capsys.readouterr().out == (
        "\033[0;32;40m2024 [9] | one\033[0m\n\033[0;32;40m2024 [9] | two\033[0m\n"
    )


def test_fancy_stdout_stream_keeps_a_split_line_on_one_line(capsys):
    stream = FancyStdoutStream(color="red", time_format="T")
    stream(entry(b"hel", pid=1))
    stream(entry(b"lo\n", pid=1))
    stream(entry(b"open", pid=1))
    stream(entry(b"x\n", pid=2))
    start = "\033[0;31;40m"
    assert capsys.readouterr().out == (
        start + "T [1] | hel\033[0m" + start + "lo\033[0m\n"
        + start + "T [1] | open\033[0m\n" + start + "T [2] | x\033[0m\n"
    )


def test_fancy_stdout_stream_defaults_and_color_check():
    stream = FancyStdoutStream()
    assert stream.color in ("red", "green", "yellow", "blue", "magenta", "cyan", "white")
    assert stream.time_format == "%Y-%m-%d %H:%M:%S"
    with pytest.raises(ValueError, match="purple"):
        FancyStdoutStream(color="purple")


# -- get_stream ---------------------------------------------------------------------


def test_get_stream_finds_a_built_in_class_by_name_with_string_options(tmp_path):
    conf = {"class": "FileStream", "filename": str(tmp_path / "a"), "max_bytes": "100"}
    stream = get_stream(conf)
    assert isinstance(stream, FileStream)
    assert stream.max_bytes == 100
    assert conf == {"class": "FileStream", "filename": str(tmp_path / "a"), "max_bytes": "100"}


def test_get_stream_imports_a_dotted_class():
    stream = get_stream({"class": "circus.stream.QueueStream"})
    assert isinstance(stream, QueueStream)
    assert isinstance(get_stream({"class": "circus.stream:StdoutStream"}), StdoutStream)
    custom = get_stream({"class": "collections.OrderedDict", "option": "1"})
    assert custom == {"option": "1"}


def test_get_stream_uses_a_ready_stream_as_is():
    queue = QueueStream()
    assert get_stream({"stream": queue}) is queue


def test_get_stream_defaults_to_file_stream_when_only_a_filename_is_given(tmp_path):
    stream = get_stream({"filename": str(tmp_path / "a"), "time_format": "%H"})
    assert isinstance(stream, FileStream)
    assert stream.time_format == "%H"


def test_get_stream_without_class_or_filename_says_what_is_missing():
    with pytest.raises(ValueError, match="stdout_stream needs a class or a filename"):
        get_stream({}, label="stdout_stream")
    with pytest.raises(ValueError, match="needs a class or a filename"):
        get_stream({"max_bytes": "10"})


@pytest.mark.parametrize("name", ["filestream", "NoSuchStream", "get_stream"])
def test_get_stream_refuses_an_unknown_class_naming_it(name):
    with pytest.raises(ValueError, match=name):
        get_stream({"class": name})


def test_get_stream_refuses_a_dotted_class_that_does_not_import():
    with pytest.raises(ValueError, match="no_such_module"):
        get_stream({"class": "no_such_module.Stream"})


def test_get_stream_reports_options_a_custom_class_rejects():
    with pytest.raises(ValueError, match="LineStamper rejected its options"):
        get_stream({"class": "circus.stream.file_stream.LineStamper", "colour": "red"})
