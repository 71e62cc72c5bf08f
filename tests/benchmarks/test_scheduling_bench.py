"""The pool-scheduling simulation's invariants: its figures are only as good as these
(``benchmarks/scheduling.py`` is a script, loaded here from its file)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "scheduling.py"
LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "benchmark_logs"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scheduling_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module is executing
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sb = _load()


#: a wait for a lost phone shorter than the default: its job is back while phone 1 is busy
RECONNECT_S = 14.0


def _case(jobs: Sequence[tuple[float, ...]], phones: int = 2, drop: tuple[int, float] | None = None,
          hot_phase_s: dict[int, float] | None = None) -> object:
    """Identical speed-1 phones without thermal slow-down; estimates are the true durations."""
    hot = hot_phase_s or {}
    return sb.Scenario(
        jobs=tuple(sb.SimJob(f"j{k}", "c", sessions, sum(sessions))
                   for k, sessions in enumerate(jobs)),
        phones=tuple(sb.SimPhone(speed=1.0, hot_phase_s=hot.get(i)) for i in range(phones)),
        spec=sb.default_spec(repeats=1), drop=drop, reconnect_s=RECONNECT_S)


def test_recorded_sessions_give_every_successful_log_a_duration() -> None:
    configs = sb.load_configs(LOGS)
    names = {c.name.split("#")[0][:2] for c in configs}
    # the failed (04, 05) and cut (03, 13) logs have no duration; the LLM prefill is the longest
    assert {"01", "02", "24", "26"} <= names and not {"03", "04", "05", "13"} & names
    assert max(configs, key=lambda c: c.session_s).name.startswith("24_")
    assert all(c.session_s > sb.SESSION_START_S for c in configs)


@pytest.mark.parametrize("order", ["lpt", "fifo", "random", "exact"])
def test_every_job_runs_exactly_once_and_no_run_beats_the_bound(order: str) -> None:
    configs = sb.load_configs(LOGS)
    for seed in (1, 2, 3):
        case = sb.make_scenario(configs, 8, 100, seed, hot_phones=2, drop_at=0.4)
        result = sb.simulate(case, order, seed)
        assert result.unfinished == ()
        done = sb.completed_sessions(result)
        assert done == {job.job_id: case.spec.repeats for job in case.jobs}
        # one execution per job, plus the moved job's successor
        assert len(result.executions) <= len(case.jobs) + 1
        assert result.makespan_s >= result.lpt_bound_s - 1e-6
        assert result.makespan_s >= result.strong_bound_s - 1e-6
        assert result.lpt_bound_s >= result.bound_parts["longest_job"]


def test_longest_first_wins_when_the_long_job_is_planned_last() -> None:
    case = _case([(10.0,)] * 10 + [(100.0,)])
    lpt, fifo = sb.simulate(case, "lpt"), sb.simulate(case, "fifo")
    # LPT: the long job on one phone, the ten short ones on the other; FIFO: it starts at 50 s
    assert lpt.makespan_s == pytest.approx(100.0)
    assert fifo.makespan_s == pytest.approx(150.0)
    assert lpt.ratio == pytest.approx(1.0)


def test_a_hot_phone_leaves_the_work_until_it_is_cool() -> None:
    # phone 0 is above the limit for the first 120 s (phase 0), far less than the gate's wait
    case = _case([(30.0,)] * 10, hot_phase_s={0: 0.0})
    result = sb.simulate(case, "lpt")
    on_hot = [e for e in result.executions if e.phone == 0]
    assert on_hot and min(e.start for e in on_hot) >= sb.HOT_S
    assert result.handoffs >= sb.HOT_S / 5.0  # one hand-off per poll while hot
    assert result.unfinished == ()


def test_a_lost_phone_keeps_its_finished_sessions_and_the_rest_moves() -> None:
    # phone 0 takes the 60 s job, phone 1 the 45 s one; phone 0 is lost 12 s in
    case = _case([(15.0, 15.0, 15.0), (10.0, 10.0, 40.0)], drop=(0, 12.0))
    result = sb.simulate(case, "lpt")
    lost, successor = [e for e in result.executions if e.job_id == "j1"]
    assert (lost.phone, lost.sessions, lost.lost_work) == (0, 1, pytest.approx(2.0))
    # back in the pool after the wait for the phone; phone 1 takes it when free
    reconnect = RECONNECT_S
    assert (successor.phone, successor.part, successor.sessions) == (1, 1, 2)
    assert successor.start == pytest.approx(45.0) and successor.end == pytest.approx(95.0)
    assert result.bound_parts["moved_job"] == pytest.approx(12.0 + reconnect + 50.0)
    assert sb.completed_sessions(result) == {"j0": 3, "j1": 3}


def test_a_lost_phones_job_waits_for_a_phone_that_ran_out_of_work() -> None:
    # phone 1's only job is over at 10 s; phone 0 is lost 12 s into its job, which is back at 26 s
    case = _case([(15.0, 15.0, 15.0), (10.0,)], drop=(0, 12.0))
    result = sb.simulate(case, "lpt")
    assert result.unfinished == ()
    assert sb.completed_sessions(result) == {"j0": 3, "j1": 1}
