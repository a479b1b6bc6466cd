"""The per-slot crash-loop delay: none for a first failure, then doubling, capped."""

from circus.crashloop import MAX_RESPAWN_DELAY, respawn_delay


def test_a_slot_is_respawned_at_once_until_its_second_failed_start_in_a_row():
    assert respawn_delay(0) == respawn_delay(1) == 0


def test_the_delay_doubles_from_100_ms_up_to_its_cap():
    assert [respawn_delay(n) for n in (2, 3, 4, 5)] == [0.1, 0.2, 0.4, 0.8]
    assert respawn_delay(10) == MAX_RESPAWN_DELAY == 5.0


def test_a_slot_that_fails_forever_stays_at_the_cap():
    # max_retry = -1 for days: thousands of failures must not overflow a float.
    assert respawn_delay(5000) == MAX_RESPAWN_DELAY


# -- the respawn_delay / respawn_delay_max options -----------------------------

from circus.crashloop import StartFailures, backoff_delay  # noqa: E402


def test_the_backoff_starts_at_respawn_delay_from_the_first_young_death_and_doubles_up_to_the_max():
    assert [backoff_delay(n, 0.2, 1.0) for n in range(6)] == [0, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff_delay(10 ** 6, 0.2, 1.0) == 1.0


def test_a_max_below_respawn_delay_keeps_respawn_delay():
    assert [backoff_delay(n, 2.0, 1.0) for n in (1, 2, 5)] == [2.0, 2.0, 2.0]


def test_with_respawn_delay_the_slot_delay_is_the_backoff_and_a_good_start_resets_it():
    failures = StartFailures("web", lambda: (0.2, 1.0))
    for _ in range(3):
        failures.count(1, "exit status 3 within 1 s", max_retry=-1)
    failures.count(2, "exit status 3 within 1 s", max_retry=-1)
    assert failures.delay(1) == 0.8 and failures.delay(2) == 0.2
    assert failures.longest_delay() == 0.8
    failures.started_well(1)
    assert failures.delay(1) == 0 and failures.longest_delay() == 0.2


def test_without_respawn_delay_the_built_in_delays_stay():
    failures = StartFailures("web")
    failures.count(1, "exit status 3 within 1 s", max_retry=-1)
    assert failures.delay(1) == 0
    failures.count(1, "exit status 3 within 1 s", max_retry=-1)
    assert failures.delay(1) == 0.1
