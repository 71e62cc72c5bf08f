"""Pool scheduling: how close ``farm submit --pool`` comes to the best possible finish, in a
simulated farm driven by the real dispatch code, and a real pool speed-up on virtual phones.

    python benchmarks/scheduling.py                    # both parts (the virtual one takes minutes)
    python benchmarks/scheduling.py --sim-only --json  # the simulation only, its JSON on stdout
    python benchmarks/scheduling.py --phones 64 --jobs 2000 --seed 1 --seeds 5 --repetitions 3

Prints tables and writes ``benchmarks/results/scheduling.json`` and ``scheduling.md``.

Part 1, simulation (seconds). A discrete-event simulation of one pool whose phones run the loop of
``EmbeddedExecutor._pool_loop`` on a simulated clock, with the real ``PoolQueue``, ``HandOff`` and
``expected_seconds`` of ``orchestrator.scheduling`` (the policy is imported, not re-implemented):
each free phone takes the next job; a phone above the thermal limit puts it back and sleeps a poll
interval (``min(gate_poll_s, 5)``), for at most ``gate_max_wait_s``; a phone that finds the queue
empty looks again every poll interval while jobs are in flight on other phones (the real thread
waits: a lost phone's job comes back) and leaves the pool once it is drained; a lost phone's job
goes back to the front after the service has waited for the phone (``device_reconnect_s``, 120 s
by default), the sessions it finished kept (``repository.return_to_pool``: the successor
runs only the rest), and the phone leaves.

- Jobs: each one config (model and options) measured ``--repeats`` times. The configs are the
  successful sessions of the real ``benchmark_model`` logs (``--logs``, parsed with
  ``workers.tools.benchmark_output.parse_output``), one session's seconds being
  ``SESSION_START_S`` (process start and adb round trips, an assumption) + init + first inference
  + the warm-up runs that fill the tool's default ``warmup_min_secs`` 0.5 s at the logged warm-up
  average + the logged measured runs x their average. Each job picks a config at random; its
  sessions' true seconds are the config's x lognormal(sigma ``--session-noise``).
- Estimates, what the queue orders by, are not the truth: ``expected_seconds`` over ``--history``
  recorded sessions of the job's config, each the config's seconds x lognormal(sigma
  ``--estimate-noise``), as planning does with the sessions the database holds. The clock runs on
  the true seconds. A sweep of the estimate noise (and of exact estimates) shows what it costs.
- Phones: speed factors uniform in 0.8-1.25 (work seconds per second); thermal slow-down: a phone
  that has worked ``THROTTLE_AFTER_S`` (10 min) without rest runs ``throttle`` (uniform 1.15-1.30)
  times slower until it cools (its heat falls twice as fast as it rises while it is idle);
  ``--hot-phones`` of them are above the gate's limit for ``HOT_S`` (2 min) every ``HOT_PERIOD_S``
  (15 min), at random phases, so that ``HandOff`` makes them leave the work to the others; one
  phone is lost for good at ``--drop-at`` x the nominal bound, mid-job (its finished sessions are
  kept, the running one is lost work).
- Orders: ``lpt`` (the pool's: longest expected first), ``fifo`` (the plan's order, jobs listed
  config by config in the logs' file order, as planning lists a submission model by model; the
  longest config, the LLM prefill of log 24, comes late), ``random`` (a shuffled order), and in the
  sweep ``exact`` (longest true duration first). Every order is the real ``PoolQueue``: with no
  estimate it keeps the order it is given.
- Sweeps, over ``--seeds`` seeds: the LPT pool's ratio by estimate noise, and every order's ratio
  with fewer jobs per phone (``--sizes``), where the ratio is also given over a stronger bound
  (``strong_bound_s``: also the k longest jobs on the k fastest phones, for every k).

The bound, ``lpt_bound_s``, is a lower bound on the makespan of any schedule of the work as it was
executed, at the speeds actually used, and the ratio is makespan / bound (>= 1, lower is better):

    lpt_bound_s = max(longest job / fastest base speed,
                      the moved job: when it went back to the pool + its remaining work / fastest,
                      B such that sum_i speed_i x max(0, min(B, end_i) - hot_i) = executed work)

- executed work: the work of every finished session plus the lost phone's wasted partial session
  (in nominal seconds, i.e. on a speed-1 phone);
- speed_i: phone i's speed averaged over the work it did (its base speed, slowed by its thermal
  throttle for the part of its work it did hot), so the slow-down is charged to the bound, not to
  the schedule; a phone that did no work counts at its base speed;
- end_i: the lost phone counts only until it was lost, the others until B;
- hot_i: the seconds phone i sat out above the thermal limit (hand-off sleeps and gate waits): a
  hot phone cannot work under the farm's thermal policy, so that time is not capacity either.
The realized run always satisfies these (each phone's busy time fits in its available time), so
makespan >= bound; the bound depends on the order's own run (throttling follows the schedule), so
each order has its own. ``nominal_bound_s`` is the plain max(longest / fastest, planned work / sum
of base speeds), with no slow-down, hot phone or loss, for reference.

Part 2, virtual phones (``--virtual``, on by default; ``--sim-only`` skips it; minutes). A private
adb server (free port, throwaway HOME, never 5037), three ``pixel-7`` virtual phones, a throwaway
FARM_HOME (SQLite), the host runner as the arm64-v8a tool; then the same pool submission through
the real command line (``farm submit --pool``), ``--devices`` naming one phone or all three,
alternately, ``--repetitions`` times each, after one untimed warm-up run on all three (so that
every phone already holds the tool and the models, as in a farm in use). The submission:
builtin-segmenter and builtin-stylizer, threads 1, xnnpack and cpu, 3 repeats with
``--spread-sessions`` (12 one-session jobs: a multiple of 3, so that 3 phones can split them
evenly; the ideal speed-up is 3). Virtual phones run the real model on this host's CPU (2 cores for
3 phones), so the sessions are made time-bound (``--num-runs 3 --min-secs 2``): a session lasts
about as long however the host's cores are shared, and the figure measures the scheduler rather
than the host. The process start and model load of each session are not time-bound and do compete
for the cores. Reported: the median run time (the run's created_at to finished_at, in its
database) and the median wall time of the command, per phone count, and the speed-up of their
medians, with the load average before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import math
import os
import platform
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from orchestrator.config import load_settings  # noqa: E402
from orchestrator.jobspec import JobSpec  # noqa: E402
from orchestrator.results import ParsedRun  # noqa: E402
from orchestrator.scheduling import HandOff, PoolQueue, expected_seconds  # noqa: E402
from workers.tools.benchmark_output import parse_output  # noqa: E402

RESULTS = ROOT / "results"
SHARED_LOGS = ROOT.parent.parent / "shared" / "benchmark-logs"
FIXTURE_LOGS = ROOT.parent / "tests" / "fixtures" / "benchmark_logs"  # the same files, in the repo

#: seconds of a session outside what the tool reports: process start, adb round trips (assumed)
SESSION_START_S = 1.0
#: benchmark_model's default warm-up: at least one run and at least this long
WARMUP_MIN_S = 0.5
THROTTLE_AFTER_S = 600.0
COOL_PER_S = 2.0
HOT_PERIOD_S = 900.0
HOT_S = 120.0
ORDERS = ("lpt", "fifo", "random")


# -- recorded sessions ------------------------------------------------------------------------

@dataclass(frozen=True)
class Config:
    """One model and config, from one recorded ``benchmark_model`` session."""

    name: str
    session_s: float  # one session, on a speed-1 phone


def session_seconds(run: ParsedRun) -> float | None:
    """A recorded session's wall seconds (see the module docstring), None if it did not finish."""
    if (run.status != "ok" or run.inference_avg_ms is None or run.inference_count is None
            or run.first_inference_ms is None):
        return None
    warmup_avg = run.warmup_avg_ms or run.first_inference_ms
    more = max(0, math.ceil((WARMUP_MIN_S * 1000 - run.first_inference_ms) / warmup_avg))
    ms = ((run.init_ms or 0.0) + run.first_inference_ms + more * warmup_avg
          + run.inference_count * run.inference_avg_ms)
    return SESSION_START_S + ms / 1000


def load_configs(folder: Path) -> list[Config]:
    configs = []
    for path in sorted(folder.glob("*.txt")):
        for index, run in enumerate(parse_output(path.read_text(errors="replace"))):
            seconds = session_seconds(run)
            if seconds is not None:
                configs.append(Config(f"{path.stem[:40]}#{index}", seconds))
    if not configs:
        raise SystemExit(f"no finished benchmark_model session in {folder}")
    return configs


# -- the simulated farm -----------------------------------------------------------------------

@dataclass(frozen=True)
class SimJob:
    job_id: str
    config: str
    sessions: tuple[float, ...]  # true seconds of each session on a speed-1 phone
    estimate_s: float  # what the queue orders by
    part: int = 0  # 1: the successor of a job whose phone was lost

    @property
    def work(self) -> float:
        return sum(self.sessions)


@dataclass(frozen=True)
class SimPhone:
    speed: float  # work seconds per second
    throttle: float = 1.0  # slow-down factor once hot from continuous work
    hot_phase_s: float | None = None  # None: never above the thermal limit


@dataclass(frozen=True)
class Scenario:
    jobs: tuple[SimJob, ...]  # in plan order
    phones: tuple[SimPhone, ...]
    spec: JobSpec
    throttle_after_s: float = THROTTLE_AFTER_S
    cool_per_s: float = COOL_PER_S
    hot_period_s: float = HOT_PERIOD_S
    hot_s: float = HOT_S
    drop: tuple[int, float] | None = None  # (phone, time) of the phone lost for good
    #: how long the service waits for the lost phone before its job goes back (as measure())
    reconnect_s: float = float(load_settings({}).device_reconnect_s)

    def hot(self, phone: int, t: float) -> str | None:
        phase = self.phones[phone].hot_phase_s
        if phase is None or (t + phase) % self.hot_period_s >= self.hot_s:
            return None
        return f"battery above {self.spec.max_temp_c:g} C"

    def hot_left(self, phone: int, t: float) -> float:
        phase = self.phones[phone].hot_phase_s
        return 0.0 if phase is None else max(0.0, self.hot_s - (t + phase) % self.hot_period_s)


def default_spec(repeats: int) -> JobSpec:
    """The farm's default protocol (gate wait and poll, device retries) with these repeats."""
    return JobSpec.from_settings(load_settings({}), repeats=repeats)


def make_scenario(configs: Sequence[Config], phones: int, jobs: int, seed: int, *,
                  repeats: int = 3, history: int = 3, estimate_noise: float = 0.15,
                  session_noise: float = 0.05, hot_phones: int = 8, drop_at: float | None = 0.4
                  ) -> Scenario:
    """Jobs and phones drawn from ``seed``; the true durations, phones and loss do not depend on
    ``estimate_noise`` (separate streams), so a sweep of it changes only the estimates."""
    truth, noise, fleet = (random.Random(f"{seed}:{name}") for name in ("truth", "noise", "fleet"))
    spec = default_spec(repeats)
    drawn = []
    for _ in range(jobs):
        index = truth.randrange(len(configs))
        config = configs[index]
        sessions = tuple(config.session_s * truth.lognormvariate(0, session_noise)
                         for _ in range(repeats))
        recorded = [config.session_s * noise.lognormvariate(0, estimate_noise)
                    for _ in range(history)]
        drawn.append((index, config.name, sessions, expected_seconds(recorded, 0, spec)))
    drawn.sort(key=lambda d: d[0])  # plan order: config by config (stable)
    planned = tuple(SimJob(f"j{k:05d}", name, sessions, estimate)
                    for k, (_, name, sessions, estimate) in enumerate(drawn))
    hot = set(fleet.sample(range(phones), min(hot_phones, phones)))
    fleet_ = tuple(SimPhone(speed=fleet.uniform(0.8, 1.25), throttle=fleet.uniform(1.15, 1.30),
                            hot_phase_s=fleet.uniform(0, HOT_PERIOD_S) if i in hot else None)
                   for i in range(phones))
    drop = None
    if drop_at is not None:
        nominal = sum(j.work for j in planned) / sum(p.speed for p in fleet_)
        drop = (fleet.randrange(phones), drop_at * nominal)
    return Scenario(planned, fleet_, spec, drop=drop)


def _wall(work: float, heat: float, phone: SimPhone, after: float) -> float:
    """Seconds to do ``work`` starting with ``heat`` s of continuous work behind."""
    cool = max(0.0, after - heat)
    if work <= phone.speed * cool:
        return work / phone.speed
    return cool + (work - phone.speed * cool) * phone.throttle / phone.speed


def _work_in(seconds: float, heat: float, phone: SimPhone, after: float) -> float:
    cool = max(0.0, after - heat)
    if seconds <= cool:
        return phone.speed * seconds
    return phone.speed * cool + (seconds - cool) * phone.speed / phone.throttle


@dataclass(frozen=True)
class Execution:
    job_id: str
    part: int
    phone: int
    start: float
    end: float
    sessions: int  # sessions finished
    work: float  # their work
    lost_work: float = 0.0  # the session the lost phone did not finish


@dataclass
class _PhoneState:
    heat: float = 0.0
    heat_t: float = 0.0
    handoff: HandOff | None = None
    dropped: bool = False
    left: float | None = None
    running: tuple[SimJob, float, float] | None = None  # job, start, heat at start
    token: int = 0
    pending: SimJob | None = None  # a lost phone's job, waiting for the phone to return
    busy: float = 0.0
    work: float = 0.0
    hot: float = 0.0  # seconds sat out above the thermal limit
    handoffs: int = 0


@dataclass(frozen=True)
class SimResult:
    order: str
    makespan_s: float
    lpt_bound_s: float
    bound_parts: dict[str, float]
    strong_bound_s: float  # also the k longest jobs on the k fastest phones, for every k
    nominal_bound_s: float
    executions: tuple[Execution, ...]
    unfinished: tuple[str, ...]  # jobs still in the queue when every phone had left
    handoffs: int
    lost_work_s: float
    utilisation: float

    @property
    def ratio(self) -> float:
        return self.makespan_s / self.lpt_bound_s

    def summary(self) -> dict[str, Any]:
        return {"order": self.order, "makespan_s": round(self.makespan_s, 1),
                "lpt_bound_s": round(self.lpt_bound_s, 1), "ratio": round(self.ratio, 4),
                "bound_parts": {k: round(v, 1) for k, v in self.bound_parts.items()},
                "strong_bound_s": round(self.strong_bound_s, 1),
                "ratio_strong": round(self.makespan_s / self.strong_bound_s, 4),
                "nominal_bound_s": round(self.nominal_bound_s, 1),
                "handoffs": self.handoffs, "lost_work_s": round(self.lost_work_s, 1),
                "utilisation": round(self.utilisation, 4), "unfinished": len(self.unfinished)}


def _queue(scenario: Scenario, order: str, seed: int) -> PoolQueue[SimJob]:
    items = list(scenario.jobs)
    if order == "lpt":
        return PoolQueue(items, lambda job: job.estimate_s)
    if order == "exact":
        return PoolQueue(items, lambda job: job.work)
    if order == "random":
        random.Random(f"{seed}:order").shuffle(items)
    elif order != "fifo":
        raise ValueError(f"unknown order {order!r}")
    return PoolQueue(items, lambda job: None)


def simulate(scenario: Scenario, order: str, seed: int = 0) -> SimResult:
    """Run the pool to its end on the simulated clock (see the module docstring)."""
    spec, phones = scenario.spec, scenario.phones
    queue = _queue(scenario, order, seed)
    poll_s = min(spec.gate_poll_s, 5.0) or 1.0  # as _pool_loop
    reconnect_s = scenario.reconnect_s
    states = [_PhoneState() for _ in phones]
    events: list[tuple[float, int, str, int, int]] = []
    seq = 0

    def push(t: float, kind: str, phone: int, token: int = 0) -> None:
        nonlocal seq
        heapq.heappush(events, (t, seq, kind, phone, token))
        seq += 1

    for i in range(len(phones)):
        push(0.0, "free", i)
    if scenario.drop is not None:
        push(scenario.drop[1], "drop", scenario.drop[0])
    executions: list[Execution] = []
    moved: tuple[float, float] | None = None  # (back in the pool at, remaining work)
    after = scenario.throttle_after_s
    while events:
        t, _, kind, i, token = heapq.heappop(events)
        st, phone = states[i], phones[i]
        if kind == "free":
            item = queue.take()
            if item is None:
                if queue.drained:
                    st.left = t  # the thread returns: the phone leaves the pool
                else:  # jobs in flight elsewhere; a lost phone's comes back
                    push(t + poll_s, "free", i)
                continue
            if st.dropped:  # runner.too_hot raises FarmError: the job is the others'
                queue.put_back(item)
                st.left = t
                continue
            hot = scenario.hot(i, t)
            st.handoff = st.handoff or HandOff(spec.gate_max_wait_s)
            if st.handoff.leaves_work(hot, t):
                queue.put_back(item)
                st.hot += poll_s
                st.handoffs += 1
                push(t + poll_s, "free", i)
                continue
            # Hot for the gate's whole wait: the session's own gate waits (at most as long).
            wait = min(scenario.hot_left(i, t), spec.gate_max_wait_s) if hot else 0.0
            start = t + wait
            st.hot += wait
            heat = max(0.0, st.heat - scenario.cool_per_s * (start - st.heat_t))
            st.running, st.token = (item, start, heat), st.token + 1
            push(start + _wall(item.work, heat, phone, after), "done", i, st.token)
        elif kind == "done":
            if st.running is None or token != st.token:
                continue  # the phone was lost meanwhile
            item, start, heat = st.running
            st.running = None
            st.busy += t - start
            st.work += item.work
            st.heat, st.heat_t = heat + (t - start), t
            executions.append(Execution(item.job_id, item.part, i, start, t, len(item.sessions),
                                        item.work))
            queue.finish()
            push(t, "free", i)
        elif kind == "drop":
            st.dropped = True
            if st.running is None:
                continue  # idle: its next take finds it gone
            item, start, heat = st.running
            st.running, st.token = None, st.token + 1
            elapsed = max(0.0, t - start)
            done = _work_in(elapsed, heat, phone, after)
            kept, cumulative = 0, 0.0
            while kept < len(item.sessions) and cumulative + item.sessions[kept] <= done:
                cumulative += item.sessions[kept]
                kept += 1
            st.busy += elapsed
            st.work += done
            executions.append(Execution(item.job_id, item.part, i, start, t, kept, cumulative,
                                        lost_work=done - cumulative))
            st.pending = (replace(item, sessions=item.sessions[kept:], part=item.part + 1)
                          if kept else item)
            push(t + reconnect_s, "lost", i)
        elif kind == "lost":
            assert st.pending is not None
            queue.put_back(st.pending)  # return_to_pool, then put_back: first in line
            moved = (t, st.pending.work)
            st.pending, st.left = None, t
    unfinished = []
    while (rest := queue.take()) is not None:
        unfinished.append(rest.job_id)
    return _result(scenario, order, states, executions, moved, tuple(unfinished))


def _capacity_bound(work: float, speeds: list[float], ends: list[float], hot: list[float]
                    ) -> float:
    def capacity(b: float) -> float:
        return sum(s * max(0.0, min(b, e) - h) for s, e, h in zip(speeds, ends, hot, strict=True))

    low, high = 0.0, 1.0
    while capacity(high) < work:
        high *= 2
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if capacity(mid) < work else (low, mid)
    return high


def _result(scenario: Scenario, order: str, states: list[_PhoneState],
            executions: list[Execution], moved: tuple[float, float] | None,
            unfinished: tuple[str, ...]) -> SimResult:
    phones = scenario.phones
    fastest = max(p.speed for p in phones)
    executed = sum(e.work + e.lost_work for e in executions)
    speeds = [st.work / st.busy if st.busy > 0 else p.speed for st, p in zip(states, phones,
                                                                             strict=True)]
    ends = [math.inf] * len(phones)
    if scenario.drop is not None:
        ends[scenario.drop[0]] = scenario.drop[1]
    parts = {"longest_job": max(j.work for j in scenario.jobs) / fastest,
             "capacity": _capacity_bound(executed, speeds, ends, [st.hot for st in states])}
    if moved is not None:
        parts["moved_job"] = moved[0] + moved[1] / fastest
    # The k longest jobs on the k fastest phones (the preemptive bound of uniform machines):
    # k = 1 is "longest on the fastest"; it only matters with few jobs per phone.
    works = sorted((j.work for j in scenario.jobs), reverse=True)
    base = sorted((p.speed for p in phones), reverse=True)
    prefix = max(sum(works[:k]) / sum(base[:k]) for k in range(1, min(len(works), len(base)) + 1))
    makespan = max((e.end for e in executions), default=0.0)
    available = sum(min(makespan, e) - st.hot for e, st in zip(ends, states, strict=True))
    planned = sum(j.work for j in scenario.jobs)
    return SimResult(
        order=order, makespan_s=makespan, lpt_bound_s=max(parts.values()), bound_parts=parts,
        strong_bound_s=max(prefix, *parts.values()),
        nominal_bound_s=max(parts["longest_job"], planned / sum(p.speed for p in phones)),
        executions=tuple(executions), unfinished=unfinished,
        handoffs=sum(st.handoffs for st in states),
        lost_work_s=sum(e.lost_work for e in executions),
        utilisation=sum(st.busy for st in states) / available if available > 0 else 0.0)


def completed_sessions(result: SimResult) -> Counter[str]:
    """Finished sessions per job (a moved job's and its successor's together)."""
    done: Counter[str] = Counter()
    for execution in result.executions:
        done[execution.job_id] += execution.sessions
    return done


def _medians(results: Sequence[SimResult]) -> dict[str, float]:
    return {"ratio_median": round(statistics.median(r.ratio for r in results), 4),
            "ratio_strong_median": round(statistics.median(r.makespan_s / r.strong_bound_s
                                                           for r in results), 4)}


def run_simulation(configs: Sequence[Config], phones: int, jobs: int, seeds: Sequence[int],
                   estimate_noise: float, sweep: Sequence[float], sizes: Sequence[int] = (),
                   **scenario: Any) -> dict[str, Any]:
    """Every order on every seed, the estimate-noise sweep of the LPT pool, and every order with
    fewer jobs per phone (``sizes``)."""
    runs: dict[str, list[SimResult]] = {order: [] for order in ORDERS}
    for seed in seeds:
        case = make_scenario(configs, phones, jobs, seed, estimate_noise=estimate_noise,
                             **scenario)
        for order in ORDERS:
            runs[order].append(simulate(case, order, seed))
    noise = []
    for sigma in [None, *sweep]:
        ratios, makespans = [], []
        for seed in seeds:
            case = make_scenario(configs, phones, jobs, seed, estimate_noise=sigma or 0.0,
                                 **scenario)
            result = simulate(case, "exact" if sigma is None else "lpt", seed)
            ratios.append(result.ratio)
            makespans.append(result.makespan_s)
        noise.append({"estimate_noise": "exact" if sigma is None else sigma,
                      "ratio_median": round(statistics.median(ratios), 4),
                      "ratio_max": round(max(ratios), 4),
                      "makespan_median_s": round(statistics.median(makespans), 1)})
    density = []
    for size in sizes:
        cases = [make_scenario(configs, phones, size, seed, estimate_noise=estimate_noise,
                               **scenario) for seed in seeds]
        density.append({"jobs": size, "jobs_per_phone": round(size / phones, 1),
                        **{order: _medians([simulate(c, order, seed)
                                            for c, seed in zip(cases, seeds, strict=True)])
                           for order in ORDERS}})
    first = runs["lpt"][0]
    case = make_scenario(configs, phones, jobs, seeds[0], estimate_noise=estimate_noise, **scenario)
    return {
        "phones": phones, "jobs": jobs, "seed": seeds[0],
        "makespan_s": round(first.makespan_s, 1), "lpt_bound_s": round(first.lpt_bound_s, 1),
        "ratio": round(first.ratio, 4),
        "orders": {order: results[0].summary() for order, results in runs.items()},
        "over_seeds": {order: {"seeds": list(seeds),
                               "ratios": [round(r.ratio, 4) for r in results],
                               "ratio_median": round(statistics.median(r.ratio for r in results), 4),
                               "ratio_max": round(max(r.ratio for r in results), 4)}
                       for order, results in runs.items()},
        "estimate_noise_sweep": noise,
        "jobs_per_phone_sweep": density,
        "workload": {
            "configs": [{"name": c.name, "session_s": round(c.session_s, 2)} for c in configs],
            "repeats": case.spec.repeats, "estimate_noise": estimate_noise,
            "planned_work_s": round(sum(j.work for j in case.jobs), 1),
            "longest_job_s": round(max(j.work for j in case.jobs), 1),
            "mean_job_s": round(statistics.mean(j.work for j in case.jobs), 1),
            "hot_phones": sum(p.hot_phase_s is not None for p in case.phones),
            "dropped_phone": case.drop[0] if case.drop else None,
            "dropped_at_s": round(case.drop[1], 1) if case.drop else None,
        },
    }


# -- virtual phones ---------------------------------------------------------------------------

MODELS = "builtin-segmenter,builtin-stylizer"
SUBMIT = ("--pool", "--models", MODELS, "--threads", "1", "--delegates", "xnnpack,cpu",
          "--repeats", "3", "--spread-sessions", "--num-runs", "3", "--min-secs", "2",
          "--no-report", "--format", "json")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _farm(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "farm.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=1800, check=False)


def _run_figures(env: dict[str, str], run_id: str) -> dict[str, Any]:
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session as DbSession

    from orchestrator.schema import Job, Run

    engine = create_engine(load_settings(env).effective_database_url)
    try:
        with DbSession(engine) as db:
            run = db.get(Run, run_id)
            assert run is not None and run.finished_at is not None
            jobs = list(db.scalars(select(Job).where(Job.run_id == run_id)))
            spans = [(j.device.serial, s.started_at, s.finished_at) for j in jobs
                     for s in j.sessions if j.device and s.started_at and s.finished_at]
            busy: dict[str, float] = {}
            for serial, start, end in spans:
                busy[serial] = busy.get(serial, 0.0) + (end - start).total_seconds()
            return {
                "run_s": (run.finished_at - run.created_at).total_seconds(),
                "status": run.status, "jobs": len(jobs),
                "jobs_per_phone": dict(Counter(j.device.serial for j in jobs if j.device)),
                "session_s_mean": statistics.mean((e - s).total_seconds() for _, s, e in spans),
                # where the run's time went: planning to the first session, the busiest phone's
                # sessions, the last session to the run's end
                "to_first_session_s": (min(s for _, s, _ in spans) - run.created_at
                                       ).total_seconds(),
                "busiest_phone_sessions_s": max(busy.values()),
                "after_last_session_s": (run.finished_at - max(e for _, _, e in spans)
                                         ).total_seconds(),
            }
    finally:
        engine.dispose()


def run_virtual(repetitions: int, profile: str = "pixel-7", count: int = 3) -> dict[str, Any]:
    from workers.device import adb as device_adb
    from workers.virtual_phone.phone import VirtualPhone, start_phone

    load_before = os.getloadavg()
    port = _free_port()
    assert port != 5037
    with tempfile.TemporaryDirectory(prefix="farm-scheduling-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FARM_")}
        env |= {"HOME": str(work / "home"), "ANDROID_ADB_SERVER_PORT": str(port),
                "FARM_HOME": str(work / "farm-home")}
        (work / "home").mkdir()
        subprocess.run(["adb", "-P", str(port), "start-server"], env=env, check=True,
                       capture_output=True, timeout=30)
        phones: list[VirtualPhone] = []
        try:
            for i in range(count):
                phones.append(start_phone(profile, serial=f"SCHEDPOOL{i}",
                                          runtime_dir=work / "phones"))
                device_adb.connect(phones[-1].serial, port=port)
            serials = [p.device_serial for p in phones]
            added = _farm(env, work, "tools", "add", "--host-runner", "--abi", "arm64-v8a")
            assert added.returncode == 0, added.stderr
            selections = {1: serials[:1], count: serials}
            _submit(env, work, serials)  # warm-up: every phone gets the tool and the models
            samples: dict[int, list[dict[str, Any]]] = {1: [], count: []}
            for _ in range(repetitions):
                for phones_used, chosen in selections.items():
                    samples[phones_used].append(_submit(env, work, chosen))
        finally:
            for phone in phones:
                with contextlib.suppress(Exception):
                    device_adb.disconnect(phone.serial, port=port)
                phone.stop()
            subprocess.run(["adb", "-P", str(port), "kill-server"], env=env,
                           capture_output=True, timeout=30, check=False)
    one = statistics.median(s["run_s"] for s in samples[1])
    many = statistics.median(s["run_s"] for s in samples[count])
    wall_one = statistics.median(s["wall_s"] for s in samples[1])
    wall_many = statistics.median(s["wall_s"] for s in samples[count])
    return {
        "profile": profile, "phones": count, "repetitions": repetitions,
        "submission": ["farm", "submit", "--devices", "<serials>", *SUBMIT],
        "one_phone_s": round(one, 2), "three_phones_s": round(many, 2),
        "speedup": round(one / many, 2),
        "wall": {"one_phone_s": round(wall_one, 2), "three_phones_s": round(wall_many, 2),
                 "speedup": round(wall_one / wall_many, 2)},
        "medians": {str(k): {key: round(statistics.median(s[key] for s in v), 2)
                             for key in ("session_s_mean", "to_first_session_s",
                                         "busiest_phone_sessions_s", "after_last_session_s")}
                    for k, v in samples.items()},
        "samples": {str(k): [{key: round(v, 2) if isinstance(v, float) else v
                              for key, v in s.items()} for s in v]
                    for k, v in samples.items()},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def _submit(env: dict[str, str], cwd: Path, serials: Sequence[str]) -> dict[str, Any]:
    started = time.perf_counter()
    result = _farm(env, cwd, "submit", "--devices", ",".join(serials), *SUBMIT)
    wall = time.perf_counter() - started
    found = re.search(r"run ([0-9a-f]{8,})", result.stderr)
    assert result.returncode == 0 and found, result.stdout[-2000:] + result.stderr[-2000:]
    figures = _run_figures(env, found.group(1))
    assert figures["status"] == "done", figures
    return {"phones": len(serials), "wall_s": wall, **figures,
            "load_average_after": round(os.getloadavg()[0], 2)}


# -- report -----------------------------------------------------------------------------------

def _markdown(report: dict[str, Any]) -> str:
    sim = report["simulation"]
    lines = [
        "# Pool scheduling (`benchmarks/scheduling.py`)", "",
        f"Simulation: {sim['phones']} phones x {sim['jobs']} jobs, seed {sim['seed']}; makespan "
        "over a lower bound computed on the speeds used (see the script's docstring).", "",
        "| order | makespan s | bound s | ratio | ratio median / max over seeds | hand-offs |"
        " utilisation |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for order, row in sim["orders"].items():
        seeds = sim["over_seeds"][order]
        lines.append(f"| {order} | {row['makespan_s']} | {row['lpt_bound_s']} | {row['ratio']} | "
                     f"{seeds['ratio_median']} / {seeds['ratio_max']} | {row['handoffs']} | "
                     f"{row['utilisation']} |")
    lines += ["", "LPT ratio by estimate noise (sigma of the recorded sessions' lognormal noise):",
              "", "| estimate noise | ratio median | ratio max | makespan median s |",
              "|---|---:|---:|---:|"]
    lines += [f"| {row['estimate_noise']} | {row['ratio_median']} | {row['ratio_max']} | "
              f"{row['makespan_median_s']} |" for row in sim["estimate_noise_sweep"]]
    lines += ["", "Median ratio over the seeds with fewer jobs per phone (in brackets: over the "
              "stronger bound, the k longest jobs on the k fastest phones for every k):", "",
              "| jobs | per phone | lpt | fifo | random |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {row['jobs']} | {row['jobs_per_phone']} | " + " | ".join(
        f"{row[o]['ratio_median']} ({row[o]['ratio_strong_median']})" for o in ORDERS) + " |"
        for row in sim["jobs_per_phone_sweep"]]
    virtual = report.get("virtual")
    if virtual:
        lines += ["", f"Virtual phones ({virtual['profile']}), the same pool submission, "
                  f"medians of {virtual['repetitions']} alternating runs; time-bound sessions "
                  "(--num-runs 3 --min-secs 2) on a shared host CPU:", "",
                  "| phones | run s | command wall s | session s | to first session s |"
                  " busiest phone's sessions s |", "|---:|---:|---:|---:|---:|---:|"]
        for count, run_s, wall_s in ((1, virtual["one_phone_s"], virtual["wall"]["one_phone_s"]),
                                     (virtual["phones"], virtual["three_phones_s"],
                                      virtual["wall"]["three_phones_s"])):
            m = virtual["medians"][str(count)]
            lines.append(f"| {count} | {run_s} | {wall_s} | {m['session_s_mean']} | "
                         f"{m['to_first_session_s']} | {m['busiest_phone_sessions_s']} |")
        lines += [f"| speed-up | {virtual['speedup']}x | {virtual['wall']['speedup']}x | | | |",
                  "",
                  "run s: the run's created_at to finished_at in its database (planning to the "
                  "last job); command wall adds the command's start, phone discovery and "
                  "pre-flight, a fixed cost whatever the phone count. session s: a session's "
                  "mean (the host's cores shared by more phones lengthen its untimed part).", "",
                  f"Load average before {virtual['load_average_before']}, after "
                  f"{virtual['load_average_after']} ({report['machine']['cpus']} CPUs)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=5, help="seeds seed, seed+1, ... for spreads")
    parser.add_argument("--repeats", type=int, default=3, help="sessions per simulated job")
    parser.add_argument("--history", type=int, default=3, help="recorded sessions per estimate")
    parser.add_argument("--estimate-noise", type=float, default=0.15)
    parser.add_argument("--session-noise", type=float, default=0.05)
    parser.add_argument("--sweep", type=float, nargs="*", default=[0.0, 0.15, 0.3, 0.6, 1.0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[128, 256, 500, 1000],
                        help="job counts of the jobs-per-phone sweep")
    parser.add_argument("--hot-phones", type=int, default=8)
    parser.add_argument("--drop-at", type=float, default=0.4,
                        help="the lost phone goes at this share of the nominal bound")
    parser.add_argument("--logs", type=Path,
                        default=SHARED_LOGS if SHARED_LOGS.is_dir() else FIXTURE_LOGS)
    parser.add_argument("--virtual", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--sim-only", action="store_true", help="same as --no-virtual")
    parser.add_argument("--repetitions", type=int, default=3, help="virtual runs per phone count")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--out", type=Path, default=RESULTS / "scheduling.json")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    configs = load_configs(args.logs)
    sim = run_simulation(configs, args.phones, args.jobs,
                         list(range(args.seed, args.seed + args.seeds)), args.estimate_noise,
                         args.sweep, repeats=args.repeats, history=args.history,
                         session_noise=args.session_noise, hot_phones=args.hot_phones,
                         drop_at=args.drop_at, sizes=args.sizes)
    sim["seconds"] = round(time.perf_counter() - started, 1)
    lpt = sim["orders"]["lpt"]
    report: dict[str, Any] = {
        # the headline: the pool's own (longest-first) order
        "phones": sim["phones"], "jobs": sim["jobs"], "makespan_s": lpt["makespan_s"],
        "lpt_bound_s": lpt["lpt_bound_s"], "ratio": lpt["ratio"],
        "version": 1, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "logs": str(args.logs), "simulation": sim}
    if args.virtual and not args.sim_only:
        report["virtual"] = run_virtual(args.repetitions)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"simulation: {sim['phones']} phones x {sim['jobs']} jobs ({len(configs)} recorded "
              f"configs, mean job {sim['workload']['mean_job_s']} s, longest "
              f"{sim['workload']['longest_job_s']} s), {sim['seconds']} s")
        print(f"{'order':8} {'makespan s':>11} {'bound s':>9} {'ratio':>7} {'median':>7} "
              f"{'max':>7} {'hand-offs':>10}")
        for order, row in sim["orders"].items():
            seeds = sim["over_seeds"][order]
            print(f"{order:8} {row['makespan_s']:>11} {row['lpt_bound_s']:>9} {row['ratio']:>7} "
                  f"{seeds['ratio_median']:>7} {seeds['ratio_max']:>7} {row['handoffs']:>10}")
        print(f"{'noise':>8} {'median':>7} {'max':>7}")
        for row in sim["estimate_noise_sweep"]:
            print(f"{row['estimate_noise']!s:>8} {row['ratio_median']:>7} {row['ratio_max']:>7}")
        print(f"{'jobs':>6} {'per phone':>9}  median ratio (strong bound) lpt / fifo / random")
        for row in sim["jobs_per_phone_sweep"]:
            print(f"{row['jobs']:>6} {row['jobs_per_phone']:>9}  " + " / ".join(
                f"{row[o]['ratio_median']} ({row[o]['ratio_strong_median']})" for o in ORDERS))
        if "virtual" in report:
            v = report["virtual"]
            print(f"virtual phones: 1 phone {v['one_phone_s']} s, {v['phones']} phones "
                  f"{v['three_phones_s']} s: {v['speedup']}x (wall {v['wall']['speedup']}x); "
                  f"load {v['load_average_before'][0]} -> {v['load_average_after'][0]}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(_markdown(report))
    if not args.json:
        print(f"wrote {args.out} and {args.out.with_suffix('.md').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
