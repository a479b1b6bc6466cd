"""The attributes WatcherOptions declares for the type checker are the option table's rows."""

import typing

import pytest

from circus import options as option_table
from circus.watcher_options import SET_APART, OptionValues

DECLARED = typing.get_type_hints(OptionValues)
SET_BY_THE_LOOP = {k: v for k, v in option_table.defaults("watcher").items() if k not in SET_APART}


def test_every_watcher_row_set_as_it_comes_is_declared_and_nothing_else():
    assert set(DECLARED) == set(SET_BY_THE_LOOP)


@pytest.mark.parametrize("key", sorted(SET_BY_THE_LOOP))
def test_the_default_of_each_row_has_the_declared_type(key):
    declared = DECLARED.get(key)
    assert declared is not None, "%s is not declared in OptionValues" % key
    allowed = typing.get_args(declared) or (declared,)
    # list[str] is checked as list: isinstance takes plain classes.
    allowed = tuple(typing.get_origin(t) or t for t in allowed)
    # A float option may be given an int by the Python API, as mypy allows.
    allowed = tuple(int if t is float else t for t in allowed) + allowed
    assert isinstance(SET_BY_THE_LOOP[key], allowed)
