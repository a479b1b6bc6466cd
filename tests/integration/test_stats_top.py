"""circus-top's screen layout and StatsClient, fed by a real PUB socket."""

import json

import zmq

from circus.stats.client import StatsClient, parse_topic
from circus.stats.top import WAITING, TopState, render


def proc(pid, cpu, mem=0.1, age=5.0, name=None):
    return {"pid": pid, "cpu": cpu, "mem": mem, "age": age, "name": name}


def filled_state():
    state = TopState(process_timeout=3)
    state.update("web", "11", proc(11, 2.0), now=0)
    state.update("web", "12", proc(12, 30.0), now=0)
    state.update("web", None, {"pid": [11, 12], "cpu": 16.0, "mem": 0.2, "age": 5.0}, now=0)
    state.update("circus", "1", proc(1, 0.5, name="circusd"), now=0)
    state.update("circusd-stats", "2", proc(2, 0.1), now=0)  # shown under circus, not alone
    state.update("sockets", "5", {"fd": 5, "reads": 7, "address": "127.0.0.1:8080"}, now=0)
    state.update("sockets", None, {"addresses": ["127.0.0.1:8080"], "reads": 7}, now=0)
    return state


def test_waiting_for_data_until_the_first_stat():
    lines = render(TopState(), 80, 24)
    assert lines[0] == "Circus Top" and WAITING in lines


def test_each_watcher_block_lists_pids_busiest_first_then_the_aggregate():
    lines = render(filled_state(), 80, 40)
    text = "\n".join(lines)
    assert "circusd-stats" not in text
    web = lines.index("web")
    assert lines[web + 1] == "   PID                      CPU (%)             MEMORY (%)          AGE (s)"
    assert lines[web + 2].split() == ["12", "30.0", "0.1", "5.0"]
    assert lines[web + 3].split() == ["11", "2.0", "0.1", "5.0"]
    assert lines[web + 4].split() == ["16.0", "(avg)", "0.2", "(sum)", "5.0", "(older)"]
    assert lines[web + 4].index("16.0") == 28
    assert "   1 (circusd)" in text
    sockets = lines.index("sockets")
    assert lines[sockets + 2].split() == ["127.0.0.1:8080", "7"]
    assert lines[sockets + 3].split() == ["7", "(sum)"]
    assert lines.index("circus") < web < sockets


def test_the_screen_fits_any_terminal_size():
    for width, height in ((80, 40), (40, 10), (20, 5), (2, 1)):
        lines = render(filled_state(), width, height)
        assert len(lines) <= height
        assert all(len(line) < width for line in lines)


def test_silent_processes_are_dropped_after_the_process_timeout():
    state = filled_state()
    state.update("web", "12", proc(12, 30.0), now=2.5)
    state.prune(now=3.5)
    assert list(state.processes["web"]) == ["12"]
    assert "sockets" not in state.processes and "web" not in state.aggregates


def test_topics_split_into_watcher_and_subtopic():
    assert parse_topic("stat.web.1234") == ("web", "1234")
    assert parse_topic("stat.web") == ("web", None)
    assert parse_topic("stat.my.app.12") == ("my.app", "12")
    assert parse_topic("stat.plugin:flapping") == ("plugin:flapping", None)


def test_stats_client_yields_watcher_subtopic_and_stat(tmp_path):
    endpoint = "ipc://%s" % (tmp_path / "stats.sock")
    context = zmq.Context()
    pub = context.socket(zmq.PUB)
    pub.bind(endpoint)
    client = StatsClient(endpoint, context=context)
    try:
        got = None
        for _ in range(200):  # a SUB joins late: publish until it hears
            pub.send_multipart([b"stat.web.12", json.dumps({"pid": 12}).encode()])
            got = client.receive(timeout=0.05)
            if got:
                break
        assert got == ("web", "12", {"pid": 12})
        pub.send_multipart([b"stat.web", json.dumps({"pid": [12]}).encode()])
        pub.send_multipart([b"stat.web", b"not json"])  # skipped
        received = iter(client)
        aggregate = next(got for got in received if got[1] is None)
        assert aggregate == ("web", None, {"pid": [12]})
        assert client.receive(timeout=0.2) is None
    finally:
        client.stop()
        pub.close(0)
        context.term()
