"""``circusctl completion bash|zsh|fish``: each script, loaded in the real
shell, completes commands, watcher names from a running circusd, and the
option names of set/get."""

import shlex
import subprocess
import sys

import pytest

from helpers import circusctl_on_path, repo_env, start, system_tool

INI = """
[watcher:web]
cmd = {web}

[watcher:worker]
cmd = {worker}
autostart = false
"""


@pytest.fixture
def daemon(circusd, workers):
    """A running circusd with watchers ``web`` (running) and ``worker`` (stopped)."""
    return start(circusd, INI.format(web=workers.cmd("web"), worker=workers.cmd("worker"))).wait_answering()


@pytest.fixture
def shell_env(tmp_path):
    """An environment whose PATH finds ``circusctl`` (this tree's) first."""
    return circusctl_on_path(tmp_path / "shell-bin", {"HOME": str(tmp_path)})


def script_file(tmp_path, shell):
    done = subprocess.run([sys.executable, "-m", "circus.circusctl", "completion", shell],
                          capture_output=True, text=True, env=repo_env(), timeout=30)  # fmt: skip
    assert done.returncode == 0, done.stderr
    path = tmp_path / ("circusctl." + shell)
    path.write_text(done.stdout)
    return path


def run(argv, env):
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.split()


# -- bash ----------------------------------------------------------------------


def bash_complete(tmp_path, env, line):
    """COMPREPLY of the bash function for ``line``, the cursor at its end."""
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    code = 'source %s; COMP_LINE=%s; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(%s); COMP_CWORD=%d; _circusctl; ' \
        'complete -p circusctl; printf "%%s\\n" "${COMPREPLY[@]}"' % (
            shlex.quote(str(script_file(tmp_path, "bash"))), shlex.quote(line),
            " ".join(shlex.quote(w) for w in words), len(words) - 1)  # fmt: skip
    out = run(["bash", "--norc", "--noprofile", "-c", code], env)
    assert out[:5] == ["complete", "-o", "default", "-F", "_circusctl"]
    return out[6:]


def test_bash_completes_commands_watcher_names_and_set_keys(daemon, tmp_path, shell_env):
    system_tool("bash")
    e = "--endpoint %s" % daemon.endpoint
    assert bash_complete(tmp_path, shell_env, "circusctl re") == ["reload", "reloadconfig", "restart"]
    assert bash_complete(tmp_path, shell_env, "circusctl %s stop " % e) == ["web", "worker"]
    assert bash_complete(tmp_path, shell_env, "circusctl %s start w" % e) == ["web", "worker"]
    assert bash_complete(tmp_path, shell_env, "circusctl %s set web numpro" % e) == ["numprocesses"]
    assert bash_complete(tmp_path, shell_env, "circusctl completion f") == ["fish"]


def test_bash_completes_no_watcher_name_when_circusd_does_not_answer(tmp_path, shell_env):
    system_tool("bash")
    endpoint = "ipc://%s" % (tmp_path / "nobody.sock")
    assert bash_complete(tmp_path, shell_env, "circusctl --endpoint %s stop " % endpoint) == []


# -- zsh -----------------------------------------------------------------------


# Drives an interactive zsh in a pseudo-terminal (zsh/zpty): the line is
# typed and TAB pressed, so zle runs the completion system, which must find
# _circusctl through compdef. compadd is wrapped to print what the function
# offers. The markers are split in the typed text so that its echo never
# matches the patterns zpty -r waits for (the subprocess timeout is the deadline).
ZSH_DRIVER = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='>'; autoload -U compinit; compinit -u -D; source $1; print -r -- reg''istered:\${_comps[circusctl]}"
zpty -r z out '*registered:_circusctl*'
zpty -w z 'compadd() { builtin compadd -O __hits "$@"; print -rl -- "" "HI""TS:${(j: :)__hits}:END"; builtin compadd "$@"; }'
zpty -w -n z "$2"$'\t'
zpty -r z out '*HITS:*:END*'
print -r -- "${${out##*HITS:}%%:END*}"
zpty -d z
"""


def zsh_complete(tmp_path, env, line):
    """What zsh offers at the end of ``line`` when TAB is pressed, the script loaded after compinit."""
    driver = tmp_path / "drive.zsh"
    driver.write_text(ZSH_DRIVER)
    return run(["zsh", "-f", str(driver), str(script_file(tmp_path, "zsh")), line], env)


def test_zsh_completes_commands_watcher_names_and_get_keys(daemon, tmp_path, shell_env):
    system_tool("zsh")
    e = "--endpoint %s" % daemon.endpoint
    assert zsh_complete(tmp_path, shell_env, "circusctl st") == ["start", "stats", "status", "stop"]
    assert zsh_complete(tmp_path, shell_env, "circusctl %s stop " % e) == ["web", "worker"]
    assert zsh_complete(tmp_path, shell_env, "circusctl %s get web graceful_t" % e) == ["graceful_timeout"]


# -- fish ----------------------------------------------------------------------


def fish_complete(tmp_path, env, line):
    """The candidates of ``complete -C line`` once the script is sourced."""
    code = "source %s; complete -C %s" % (shlex.quote(str(script_file(tmp_path, "fish"))), shlex.quote(line))
    return run(["fish", "--no-config", "-c", code], env)


def test_fish_completes_commands_watcher_names_and_set_keys(daemon, tmp_path, shell_env):
    system_tool("fish")
    e = "--endpoint %s" % daemon.endpoint
    assert fish_complete(tmp_path, shell_env, "circusctl numw") == ["numwatchers"]
    assert fish_complete(tmp_path, shell_env, "circusctl %s stop " % e) == ["web", "worker"]
    assert fish_complete(tmp_path, shell_env, "circusctl %s set web max_ag" % e) == [
        "max_age", "max_age_variance"]
