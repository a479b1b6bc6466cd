"""Variable substitution: $(circus.x), ((circus.x)), $NAME in env, $WID at spawn."""

import pytest

from circus.substitute import expand_command, parse_env_dict, replace_gnu_args


def test_both_syntaxes_are_replaced():
    assert replace_gnu_args("$(circus.name) ((circus.name))", name="web") == "web web"


def test_the_whole_token_is_case_insensitive():
    text = "$(CIRCUS.ENV.Foo) ((Circus.env.FOO))"
    assert replace_gnu_args(text, env={"FOO": "bar"}) == "bar bar"


def test_exact_case_wins_over_a_case_insensitive_match():
    assert replace_gnu_args("$(circus.env.foo)", env={"FOO": "up", "foo": "low"}) == "low"


def test_dicts_flatten_to_dotted_keys():
    variables = {"env": {"FOO": 1}, "sockets": {"web": 5}}
    assert replace_gnu_args("$(circus.env.foo):$(circus.sockets.web)", **variables) == "1:5"


def test_unknown_variables_are_left_verbatim():
    text = "$(circus.env.nosuch) ((circus.wid)) $(other.x)"
    assert replace_gnu_args(text, env={}) == text


def test_keys_may_contain_dots_and_dashes():
    assert replace_gnu_args("$(circus.a-b.c_d)", **{"a-b": {"c_d": "ok"}}) == "ok"


def test_another_prefix_can_be_used():
    assert replace_gnu_args("$(app.x) $(circus.x)", prefix="app", x="1") == "1 $(circus.x)"


def test_non_strings_pass_through():
    assert replace_gnu_args(5, x=1) == 5
    assert replace_gnu_args(None) is None


def test_replace_gnu_args_does_not_touch_dollar_wid():
    assert replace_gnu_args("$WID", wid=3) == "$WID"


def test_parse_env_dict_expands_upper_case_names_from_os_environ(monkeypatch):
    monkeypatch.setenv("CIRCUS_T_HOME", "/h")
    monkeypatch.delenv("CIRCUS_T_UNSET", raising=False)
    env = {"A": "$CIRCUS_T_HOME/bin", "B": "x$CIRCUS_T_UNSET.y", "C": "${CIRCUS_T_HOME}", "D": "$lower"}
    assert parse_env_dict(env) == {"A": "/h/bin", "B": "x.y", "C": "${CIRCUS_T_HOME}", "D": "$lower"}
    assert env["A"] == "$CIRCUS_T_HOME/bin", "the input is not mutated"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("worker --id $(circus.wid)", "worker --id 3"),
        ("worker --id ((circus.wid))", "worker --id 3"),
        ("worker --id $WID", "worker --id 3"),
        ("worker $WID,$WID", "worker 3,3"),
        ("worker $WIDTH $WID_X", "worker $WIDTH $WID_X"),
        ("serve --fd $(circus.sockets.web)", "serve --fd 7"),
        ("serve --fd ((circus.sockets.WEB))", "serve --fd 7"),
        ("run $(circus.env.path) n=$(circus.numprocesses)", "run /bin n=2"),
        ("keep $(circus.nosuch)", "keep $(circus.nosuch)"),
    ],
)
def test_expand_command_fills_wid_sockets_env_and_watcher_attributes(text, expected):
    variables = {"env": {"PATH": "/bin", "X": "$WID"}, "numprocesses": 2}
    assert expand_command(text, 3, {"web": 7}, variables) == expected


def test_expand_command_does_not_expand_wid_inside_substituted_values():
    assert expand_command("$(circus.env.x)", 3, {}, {"env": {"X": "$WID"}}) == "$WID"
