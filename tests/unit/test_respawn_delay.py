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
