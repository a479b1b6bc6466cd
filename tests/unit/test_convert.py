"""Value converters of circus.convert."""

import grp
import os
import pwd
import signal

import pytest

from circus.convert import (
    bytes2human,
    human2bytes,
    signal_name,
    to_bool,
    to_float,
    to_gid,
    to_int,
    to_signum,
    to_uid,
    to_umask,
)


@pytest.mark.parametrize("word", ["yes", "TRUE", " on ", "1", "True", True])
def test_to_bool_accepts_true_words_in_any_case(word):
    assert to_bool(word) is True


@pytest.mark.parametrize("word", ["no", "False", "OFF ", "0", None, False])
def test_to_bool_accepts_false_words_and_none(word):
    assert to_bool(word) is False


@pytest.mark.parametrize("word", ["maybe", "", "2", [], 1.0])
def test_to_bool_refuses_anything_else_with_the_value_in_the_message(word):
    with pytest.raises(ValueError, match="not a boolean"):
        to_bool(word)


def test_to_int_reads_decimal_strings_and_ints():
    assert to_int(" 42 ") == 42
    assert to_int("-1") == -1
    assert to_int(7) == 7


@pytest.mark.parametrize("value", ["x", "1.5", "", True, 1.0, None])
def test_to_int_refuses_non_integers_and_bools(value):
    with pytest.raises(ValueError, match="not an integer"):
        to_int(value)


def test_to_float_reads_numbers_and_refuses_bools():
    assert to_float("2.5") == 2.5
    assert to_float(3) == 3.0
    assert isinstance(to_float(3), float)
    with pytest.raises(ValueError, match="not a number"):
        to_float(True)
    with pytest.raises(ValueError, match="not a number"):
        to_float("fast")


@pytest.mark.parametrize(
    "value, expected",
    [
        (9, 9),
        ("9", 9),
        ("KILL", signal.SIGKILL),
        ("sigkill", signal.SIGKILL),
        ("INT", signal.SIGINT),
        (" SIGTERM ", signal.SIGTERM),
        ("SIGRTMIN+1", signal.SIGRTMIN + 1),
        ("sigrtmax", signal.SIGRTMAX),
    ],
)
def test_to_signum_accepts_numbers_and_names(value, expected):
    assert to_signum(value) == expected


def test_to_signum_names_the_unknown_signal():
    with pytest.raises(ValueError, match="unknown signal 'NOPE'"):
        to_signum("NOPE")


@pytest.mark.parametrize("value", [0, 1000, "SIGRTMAX+1", True, 1.5])
def test_to_signum_refuses_out_of_range_and_mistyped_values(value):
    with pytest.raises(ValueError):
        to_signum(value)


def test_signal_name_round_trips_with_to_signum():
    assert signal_name(15) == "SIGTERM"
    assert signal_name(signal.SIGRTMIN + 1) == "SIGRTMIN+1"
    for signum in (signal.SIGHUP, signal.SIGKILL, signal.SIGRTMIN + 3):
        assert to_signum(signal_name(signum)) == signum


def test_to_uid_and_to_gid_resolve_names_and_numbers():
    me = pwd.getpwuid(os.getuid())
    assert to_uid(me.pw_name) == me.pw_uid
    assert to_uid(str(me.pw_uid)) == me.pw_uid
    assert to_uid(me.pw_uid) == me.pw_uid
    group = grp.getgrgid(os.getgid())
    assert to_gid(group.gr_name) == group.gr_gid
    assert to_gid(str(group.gr_gid)) == group.gr_gid


def test_to_uid_and_to_gid_refuse_unknown_ids():
    with pytest.raises(ValueError, match="unknown user 'no-such-user-xyz'"):
        to_uid("no-such-user-xyz")
    with pytest.raises(ValueError, match="unknown group"):
        to_gid("no-such-group-xyz")
    with pytest.raises(ValueError, match="unknown user"):
        to_uid(2**31 - 2)


def test_to_umask_reads_octal():
    assert to_umask("027") == 0o27
    assert to_umask("077") == 0o77
    assert to_umask(0o22) == 0o22
    for bad in ("8", "999", "-1", "abc", True):
        with pytest.raises(ValueError):
            to_umask(bad)


def test_bytes2human_and_human2bytes():
    assert bytes2human(10000) == "9.77K"
    assert bytes2human("10000") == "9.77K"
    assert bytes2human(100) == "100B"
    assert bytes2human(1 << 30) == "1.00G"
    assert human2bytes("1.5M") == 1572864
    assert human2bytes("10k") == 10240
    assert human2bytes("100") == 100
    assert human2bytes("2G") == 2 << 30
    with pytest.raises(ValueError, match="not a size"):
        human2bytes("lots")
