"""Pool scheduling's pure parts: estimates, the longest-first queue, the thermal hand-off."""

from __future__ import annotations

import threading

from orchestrator.config import default_settings
from orchestrator.jobspec import JobSpec
from orchestrator.scheduling import (
    HandOff,
    PoolQueue,
    expected_seconds,
    longest_first,
    pool_id,
    size_estimate,
)

SPEC = JobSpec.from_settings(default_settings(), repeats=3, num_runs=50, min_secs=1.0)


def test_a_pool_is_named_by_its_phones_in_any_order() -> None:
    assert pool_id(["B", "A", "A"]) == pool_id(["A", "B"]) != pool_id(["A", "C"])


def test_the_size_estimate_grows_with_the_model_once_runs_outlast_min_secs() -> None:
    small, large, huge = (size_estimate(mb * 1_000_000, SPEC) for mb in (0.1, 5, 50))
    # 50 runs of a 0.1 MB model are over well before min_secs: the floor holds.
    assert small == size_estimate(0, SPEC)
    assert small < large < huge


def test_history_wins_over_size_and_counts_every_session() -> None:
    assert expected_seconds([2.0, 9.0, 3.0], 50_000_000, SPEC) == 3 * 3.0
    assert expected_seconds([], 5_000_000, SPEC) == 3 * size_estimate(5_000_000, SPEC)


def test_longest_first_keeps_ties_in_plan_order_and_unknowns_last() -> None:
    items = [("a", 1.0), ("b", None), ("c", 5.0), ("d", 1.0)]
    assert [name for name, _ in longest_first(items, lambda item: item[1])] == ["c", "a", "d", "b"]


def test_the_queue_hands_each_job_to_one_taker_and_a_returned_job_goes_first() -> None:
    queue = PoolQueue(range(1000), lambda n: float(n))
    taken: list[int] = []

    def take_all() -> None:
        while (item := queue.take()) is not None:
            taken.append(item)
            queue.finish()

    threads = [threading.Thread(target=take_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == list(range(1000)) and queue.drained
    queue = PoolQueue([1, 3, 2], float)
    assert queue.take() == 3
    queue.put_back(3)
    assert [queue.take(), queue.take(), queue.take(), queue.take()] == [3, 2, 1, None]


def test_an_empty_queue_with_a_job_in_flight_is_not_drained_until_it_is_over() -> None:
    queue = PoolQueue(["long", "short"], {"long": 2.0, "short": 1.0}.get)
    assert queue.take() == "long"  # on a phone that will be lost
    assert queue.take() == "short"
    queue.finish()
    # The other phone is out of work, but must not leave: the lost phone's job comes back.
    assert queue.take() is None and not queue.drained
    returned = threading.Timer(0.05, queue.put_back, args=("long, the rest",))
    returned.start()
    queue.wait(5.0)
    assert queue.take() == "long, the rest"
    queue.finish()
    assert queue.drained


def test_a_hot_phone_leaves_work_for_at_most_the_gates_wait() -> None:
    handoff = HandOff(max_wait_s=10.0)
    assert not handoff.leaves_work(None, 0.0)
    assert handoff.leaves_work("temperature 45.0 C >= 37 C", 100.0)
    assert handoff.leaves_work("temperature 44.0 C >= 37 C", 109.0)
    # Hot for the gate's whole wait: it takes the work (every phone of the pool may be hot).
    assert not handoff.leaves_work("temperature 44.0 C >= 37 C", 110.0)
    # Cool, then hot again: a new wait.
    assert not handoff.leaves_work(None, 111.0)
    assert handoff.leaves_work("temperature 40.0 C >= 37 C", 112.0)
