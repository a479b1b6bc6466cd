"""The Stream and Hook protocols of circus.interfaces, checked by mypy itself."""

import re
import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api", reason="mypy is not installed (pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parents[2]

# Lines ending in "# rejected" must be mypy errors, and no other line may be.
USAGE = textwrap.dedent(
    """\
    from circus.interfaces import Hook, ManagedStream, Stream, StreamEntry
    from circus.stream import (
        FancyStdoutStream,
        FileStream,
        QueueStream,
        StdoutStream,
        TimedRotatingFileStream,
        WatchedFileStream,
        get_stream,
    )

    managed: list[ManagedStream] = [FileStream(), WatchedFileStream(), TimedRotatingFileStream()]
    plain: list[Stream] = [StdoutStream(), FancyStdoutStream(), QueueStream(), print]
    built: Stream = get_stream({"class": "StdoutStream"})


    class Tail:
        def __call__(self, entry: StreamEntry) -> None:
            print(entry["data"].decode(), entry["pid"], entry["name"])


    def check_disk(watcher, arbiter, hook_name, **kwargs):
        return True


    def anything(*args, **kwargs) -> bool:
        return True


    def veto_hup(watcher, arbiter, hook_name: str, **kwargs) -> bool | None:
        return kwargs.get("signum") != 1


    hooks: list[Hook] = [check_disk, anything, veto_hup]
    tail: Stream = Tail()

    not_managed: ManagedStream = StdoutStream()  # rejected
    not_a_stream: Stream = StdoutStream  # rejected
    not_an_entry: StreamEntry = {"data": "text", "pid": 1, "name": "stdout"}  # rejected


    def positional_only(watcher, arbiter, hook_name, /, **kwargs):
        return True


    def wrong_result(watcher, arbiter, hook_name, **kwargs) -> str:
        return "yes"


    by_position: Hook = positional_only  # rejected
    says_yes: Hook = wrong_result  # rejected
    """
)


def test_shipped_streams_and_example_hooks_satisfy_the_protocols(tmp_path, monkeypatch):
    usage = tmp_path / "usage.py"
    usage.write_text(USAGE)
    # mypy finds the circus package and mypy.ini from the repository root.
    monkeypatch.chdir(ROOT)
    out, err, status = mypy_api.run(
        [
            "--config-file", str(ROOT / "mypy.ini"),
            "--follow-imports=silent",
            "--cache-dir", str(tmp_path / "cache"),
            "--no-error-summary",
            "--hide-error-context",
            str(ROOT / "circus" / "interfaces.py"),
            str(usage),
        ]
    )
    assert err == ""
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert not [line for line in errors if "interfaces.py" in line], out
    flagged = {int(m.group(1)) for m in (re.search(r"usage\.py:(\d+):", line) for line in errors) if m}
    expected = {n for n, line in enumerate(USAGE.splitlines(), 1) if line.endswith("# rejected")}
    assert flagged == expected, out
    assert status == 1
