"""The reload plan: a pure diff of two loaded configurations."""

import copy

from circus.reload_plan import plan_reload


def config(**overrides):
    cfg = {
        "circus": {"check_delay": 5.0, "endpoint": "tcp://127.0.0.1:5555"},
        "sockets": [{"name": "web", "host": "127.0.0.1", "port": 8080}],
        "watchers": [
            {"name": "web", "cmd": "worker $(circus.sockets.web)", "numprocesses": 3},
            {"name": "queue", "cmd": "queue-worker", "numprocesses": 1},
        ],
    }
    cfg.update(overrides)
    return cfg


def test_identical_configs_plan_nothing():
    assert plan_reload(config(), config()).empty


def test_a_new_watcher_is_added_and_a_missing_one_removed():
    new = config()
    new["watchers"] = [new["watchers"][0], {"name": "mail", "cmd": "mailer"}]
    plan = plan_reload(config(), new)
    assert plan.watchers_added == ["mail"]
    assert plan.watchers_removed == ["queue"]
    assert plan.watchers_replaced == []


def test_a_numprocesses_change_only_resizes():
    new = config()
    new["watchers"][1]["numprocesses"] = 4
    plan = plan_reload(config(), new)
    assert plan.watchers_resized == {"queue": 4}
    assert plan.watchers_replaced == []


def test_any_other_change_replaces_the_watcher():
    new = config()
    new["watchers"][1]["cmd"] = "queue-worker --fast"
    plan = plan_reload(config(), new)
    assert plan.watchers_replaced == ["queue"]


def test_watcher_names_compare_case_insensitively():
    new = config()
    new["watchers"][1]["name"] = "Queue"
    plan = plan_reload(config(), new)
    assert plan.watchers_added == [] and plan.watchers_removed == []


def test_a_changed_socket_replaces_the_watchers_that_use_it():
    new = config()
    new["sockets"][0]["port"] = 9090
    plan = plan_reload(config(), new)
    assert plan.sockets_changed == ["web"]
    assert plan.watchers_replaced == ["web"]


def test_circus_changes_split_into_live_ones_and_restart_ones():
    new = config()
    new["circus"] = dict(new["circus"], check_delay=1.0, endpoint="tcp://127.0.0.1:6000")
    plan = plan_reload(config(), new)
    assert plan.circus_applied == {"check_delay": 1.0}
    assert plan.circus_needs_restart == ["endpoint"]


def test_planning_does_not_mutate_its_inputs():
    old, new = config(), config()
    new["watchers"][0]["numprocesses"] = 1
    frozen_old, frozen_new = copy.deepcopy(old), copy.deepcopy(new)
    plan_reload(old, new)
    assert (old, new) == (frozen_old, frozen_new)
