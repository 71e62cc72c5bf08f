"""Orchestration cost: what the farm adds around each benchmark session, against the adb floor.

    python benchmarks/overhead.py                       # 5 repetitions, 24 sessions, RSS over 1,000
    python benchmarks/overhead.py --json --repetitions 3 --rss-sessions 200

One virtual phone (``pixel-7``) on a private adb server (free port, throwaway HOME, never 5037),
the host runner as its benchmark tool, a throwaway FARM_HOME (SQLite); for the distributed mode
also a throwaway redis-server and one ``farm worker``. The workload: 3 models (the two built-in
ones and a second segmenter with other weights) x xnnpack {1, 2} threads, ``num_runs`` 20 and no
``min_secs`` (so a session's length is the tool's, not a timer's), repeated to ``--sessions``
(default 24 = 4 rounds of the 6 configs). Run four ways, alternating within each repetition:

The tool is the host runner behind a timing wrapper on the phone: a shell script that runs it and
prints its wall time as measured on the phone (``date +%s%N``) on stderr, so every mode knows the
tool's own time in that very run, session by session (the shared host's noise, tens of ms per
session between two runs, would otherwise swamp the figures):

(a) ``tool``: the tool alone: one ``adb shell`` script running every session's exact command line
    back to back; ``tool_s`` is the sum of the tool's times (process start and model load
    included, as in every mode).
(b) ``naive``: the floor, a plain host loop of ``adb push`` of the model + ``adb shell`` of the same
    command per session.
(c) ``farm``: ``farm submit --devices SERIAL`` embedded, the same configs, ``--repeats`` rounds.
(d) ``distributed``: the same ``farm submit --wait`` through Redis and the worker.

Per session overhead = (wall - start-up - the run's own tool time - gate waits) / sessions, in ms,
where start-up is from launching ``farm submit`` to the first session's start as stored (CLI
import, planning, pre-flight, dispatch; the naive loop has none) and the gate waits are what the
sessions' thermal gate recorded waiting (the phone is cool: expected 0; reported apart). The gate's
own readings (environment snapshots) are *not* excluded: they are part of what the farm adds, and
counted in its overhead. Medians over the repetitions; ratios of medians.

``pushes_second_run``: files pushed during a second farm run of unchanged models and tool (each
session lists what its batch pushed, ``environment.pushed``). The first farm run of the benchmark
(its warm-up, not timed) pushes them once.

RSS: one ``farm worker`` with a tool that answers instantly (a shell script printing the output
of a real session), ``--rss-sessions`` sessions on the phone in four runs; the resident memory of
the phone's consumer process (VmRSS) after a first run and after each of the four.

Writes ``benchmarks/results/overhead.json`` and ``overhead.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from sqlalchemy import create_engine, select  # noqa: E402
from sqlalchemy.orm import Session as DbSession  # noqa: E402

from models.builtin import build_builtin_models, write_model  # noqa: E402
from models.builtin_graphs import _segmenter  # noqa: E402
from orchestrator.schema import Job, Run  # noqa: E402
from orchestrator.schema import Session as SessionRow  # noqa: E402
from workers.tools.benchmark_argv import SessionSpec, build_argv  # noqa: E402

RESULTS = ROOT / "results"
THREADS = (1, 2)
NUM_RUNS = 20
PROFILE = "pixel-7"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Bench:
    """The phone, its adb server, the farm's home and the commands of every mode."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = _free_port()
        assert self.port != 5037
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FARM_")}
        self.env |= {"HOME": str(work / "home"), "ANDROID_ADB_SERVER_PORT": str(self.port),
                     "FARM_HOME": str(work / "farm-home")}
        (work / "home").mkdir()
        self.models: dict[str, Path] = {}
        self.serial = ""

    def adb(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["adb", "-P", str(self.port), *args], env=self.env, text=True,
                              capture_output=True, timeout=timeout, check=False)

    def farm(self, *args: str, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "farm.cli", *args], env=env or self.env,
                              cwd=self.work, capture_output=True, text=True, timeout=3600,
                              check=False)

    @contextlib.contextmanager
    def phone(self) -> Iterator[None]:
        from workers.device import adb as device_adb
        from workers.virtual_phone.phone import start_phone

        self.adb("start-server", timeout=30)
        phone = start_phone(PROFILE, serial="OVERHEAD01", runtime_dir=self.work / "phones")
        try:
            device_adb.connect(phone.serial, port=self.port)
            self.transport, self.serial = phone.serial, phone.device_serial
            yield
        finally:
            with contextlib.suppress(Exception):
                device_adb.disconnect(phone.serial, port=self.port)
            phone.stop()
            self.adb("kill-server", timeout=30)

    def prepare(self) -> None:
        """The models (registered), the host runner as the tool, and the tool on the phone for the
        tool-alone and naive modes (at the path the farm's push cache uses)."""
        folder = self.work / "models"
        self.models = build_builtin_models(folder)
        self.models["bench-segmenter-b"] = write_model(_segmenter(7), folder / "segmenter-b.tflite")
        added = self.farm("models", "add", str(self.models["bench-segmenter-b"]), "--name",
                          "bench-segmenter-b")
        assert added.returncode == 0, added.stderr
        # The host runner, timed on the phone (see the module docstring); registered as the tool.
        wrapper = self.work / "timed-host-runner.sh"
        wrapper.write_text(
            "#!/bin/sh\n# the host runner, its wall time on the phone on stderr\n"
            "t0=$(date +%s%N)\n"
            f"{shlex.quote(sys.executable)} -m workers.tools.host_runner \"$@\"\n"
            "rc=$?\nt1=$(date +%s%N)\necho \"TOOL-NS $((t1 - t0))\" >&2\nexit $rc\n")
        wrapper.chmod(0o755)
        tool = self.farm("tools", "add", str(wrapper), "--abi", "arm64-v8a", "--version",
                         "host runner, timed")
        assert tool.returncode == 0, tool.stderr
        self.tool_remote = "/data/local/tmp/bench/benchmark_model"
        self.adb("-s", self.transport, "shell", "mkdir -p /data/local/tmp/bench")
        self.adb("-s", self.transport, "push", str(wrapper), self.tool_remote)
        self.adb("-s", self.transport, "shell", f"chmod 755 {self.tool_remote}")
        for name, path in self.models.items():
            self.adb("-s", self.transport, "push", str(path), f"/data/local/tmp/bench/{name}")

    def commands(self, rounds: int) -> list[list[str]]:
        """Every session's command line on the phone, in the farm's argv (its protocol)."""
        out = []
        for _round in range(rounds):
            for name in self.models:
                for threads in THREADS:
                    spec = SessionSpec(graph=f"/data/local/tmp/bench/{name}", num_threads=threads,
                                       delegate="xnnpack", num_runs=NUM_RUNS, min_secs=0.0)
                    out.append([self.tool_remote, *build_argv(spec)])
        return out

    # -- the four modes ---------------------------------------------------------------------

    def tool_alone(self, rounds: int) -> dict[str, Any]:
        commands = self.commands(rounds)
        script = "\n".join(f"{shlex.join(argv)} >/dev/null" for argv in commands)
        result = self.adb("-s", self.transport, "shell", script)
        times = _tool_times(result.stdout + result.stderr)
        assert len(times) == len(commands), result.stdout[-2000:] + result.stderr[-2000:]
        return {"tool_s": sum(times), "sessions": len(times)}

    def naive(self, rounds: int) -> dict[str, Any]:
        started = time.perf_counter()
        commands = self.commands(rounds)
        tool_s = 0.0
        for argv in commands:
            model = next(a.split("=", 1)[1] for a in argv if a.startswith("--graph="))
            name = model.rsplit("/", 1)[1]
            self.adb("-s", self.transport, "push", str(self.models[name]), model)
            done = self.adb("-s", self.transport, "shell", shlex.join(argv))
            assert "Inference (avg)" in done.stdout + done.stderr, done.stdout[-1500:]
            tool_s += sum(_tool_times(done.stdout + done.stderr))
        return {"wall_s": time.perf_counter() - started, "sessions": len(commands),
                "tool_s": tool_s}

    def submit(self, rounds: int, env: dict[str, str] | None = None) -> dict[str, Any]:
        args = ("submit", "--devices", self.serial, "--models", ",".join(self.models),
                "--threads", ",".join(map(str, THREADS)), "--delegates", "xnnpack",
                "--repeats", str(rounds), "--num-runs", str(NUM_RUNS), "--min-secs", "0",
                "--no-report", "--wait", "--format", "json")
        launched = datetime.now(UTC)
        started = time.perf_counter()
        result = self.farm(*args, env=env)
        wall = time.perf_counter() - started
        found = re.search(r"run ([0-9a-f]{8})", result.stdout + result.stderr)
        assert result.returncode == 0 and found, result.stdout[-2000:] + result.stderr[-2000:]
        sessions = self.sessions(found.group(1), env)
        first = min(s["started_at"] for s in sessions)
        return {"wall_s": wall, "sessions": len(sessions),
                "startup_s": (first - launched).total_seconds(),
                "gate_wait_s": sum(s["gate_wait_s"] for s in sessions),
                "tool_s": sum(s["tool_s"] for s in sessions),
                "pushed": sum(s["pushed"] for s in sessions)}

    def sessions(self, run_id: str, env: dict[str, str] | None) -> list[dict[str, Any]]:
        from orchestrator.config import load_settings

        engine = create_engine(load_settings(env or self.env).effective_database_url)
        try:
            with DbSession(engine) as db:
                run = db.get(Run, run_id)
                assert run is not None and run.status == "done", run and run.status
                rows = db.execute(select(SessionRow.started_at, SessionRow.environment,
                                         SessionRow.raw_output)
                                  .join(Job).where(Job.run_id == run_id)).all()
        finally:
            engine.dispose()
        return [{"started_at": start.replace(tzinfo=start.tzinfo or UTC),
                 "gate_wait_s": float(env_.get("gate", {}).get("waited_s", 0.0)),
                 "tool_s": sum(_tool_times(output)),
                 "pushed": len(env_.get("pushed", []))} for start, env_, output in rows]


@contextlib.contextmanager
def distributed(bench: Bench) -> Iterator[dict[str, str]]:
    """redis-server and one `farm worker` owning the phone; the env that points at them."""
    from tests.support.redis import redis_server

    with redis_server(bench.work / "redis") as redis:
        env = bench.env | {"FARM_BROKER_URL": redis.url}
        log = (bench.work / "worker.log").open("wb")
        worker = subprocess.Popen([sys.executable, "-m", "farm.cli", "worker", "--name", "bench",
                                   "--devices", bench.serial, "--no-control"], env=env,
                                  cwd=bench.work, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while not _consumer_pids(worker.pid):
                assert worker.poll() is None and time.monotonic() < deadline, \
                    (bench.work / "worker.log").read_text()[-3000:]
                time.sleep(0.5)
            time.sleep(3)  # the consumer connects to the broker
            env["BENCH_WORKER_PID"] = str(worker.pid)
            yield env
        finally:
            worker.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=60)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, 9)
            log.close()


def _tool_times(output: str) -> list[float]:
    """The tool's wall times (s) the timing wrapper printed."""
    return [int(ns) / 1e9 for ns in re.findall(r"TOOL-NS (\d+)", output)]


def _consumer_pids(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split()]


def _rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def measure_rss(bench: Bench, sessions: int) -> dict[str, Any]:
    """A worker's consumer over ``sessions`` sessions of an instant tool."""
    from tests.support.scripted import benchmark_output

    script = bench.work / "instant-benchmark.sh"
    script.write_text("#!/bin/sh\ncat <<'EOF'\n" + benchmark_output(12.5) + "EOF\n")
    script.chmod(0o755)
    env = bench.env | {"FARM_GATE_POLL": "1"}
    added = bench.farm("tools", "add", str(script), "--abi", "arm64-v8a", "--version", "instant",
                       env=env)
    assert added.returncode == 0, added.stderr
    with distributed(bench) as dist:
        (consumer,) = _consumer_pids(int(dist["BENCH_WORKER_PID"]))
        per_run = len(bench.models) * len(THREADS)
        rounds = max(1, sessions // per_run // 4)
        done = bench.submit(1, env=dist)["sessions"]
        start_kb = _rss_kb(consumer)
        started = time.perf_counter()
        curve = {done: round(start_kb / 1024, 1)}
        for _quarter in range(4):  # the curve, to tell a warm-up from a leak
            done += bench.submit(rounds, env=dist)["sessions"]
            curve[done] = round(_rss_kb(consumer) / 1024, 1)
        end_kb = _rss_kb(consumer)
    return {"sessions": done, "start_rss_mb": start_kb / 1024, "end_rss_mb": end_kb / 1024,
            "growth_mb": (end_kb - start_kb) / 1024, "rss_mb_by_sessions": curve,
            "seconds": time.perf_counter() - started}


def run(repetitions: int, sessions: int, rss_sessions: int) -> dict[str, Any]:
    load_before = os.getloadavg()
    rounds = max(1, sessions // (len(THREADS) * 3))
    with tempfile.TemporaryDirectory(prefix="farm-overhead-") as tmp:
        bench = Bench(Path(tmp))
        with bench.phone():
            bench.prepare()
            bench.submit(1)  # warm-up: the push cache fills, the models are registered
            second = bench.submit(1)
            samples: dict[str, list[dict[str, Any]]] = {m: [] for m in
                                                        ("tool", "naive", "farm", "distributed")}
            scaling: dict[int, list[dict[str, Any]]] = {}
            with distributed(bench) as dist:
                bench.submit(1, env=dist)  # the worker's warm-up
                for _ in range(repetitions):
                    samples["tool"].append(bench.tool_alone(rounds))
                    samples["naive"].append(bench.naive(rounds))
                    samples["farm"].append(bench.submit(rounds))
                    samples["distributed"].append(bench.submit(rounds, env=dist))
                    for n in (max(1, rounds // 2), rounds * 2):  # does it grow with sessions?
                        scaling.setdefault(n * 6, []).append(bench.submit(n))
            rss = measure_rss(bench, rss_sessions) if rss_sessions else None
    return _report(samples, scaling, second, rss, rounds * 6, load_before)


def _overhead_ms(run_: dict[str, Any]) -> float:
    wall = (run_["wall_s"] - run_.get("startup_s", 0.0) - run_.get("gate_wait_s", 0.0)
            - run_["tool_s"])
    return 1000 * wall / run_["sessions"]


def _report(samples: dict[str, list[dict[str, Any]]], scaling: dict[int, list[dict[str, Any]]],
            second: dict[str, Any], rss: dict[str, Any] | None, sessions: int,
            load_before: tuple[float, float, float]) -> dict[str, Any]:
    tools = [s["tool_s"] for s in samples["tool"]]

    def per_rep(mode: str) -> list[float]:
        return [_overhead_ms(run_) for run_ in samples[mode]]

    naive, farm, dist = per_rep("naive"), per_rep("farm"), per_rep("distributed")
    scale = {str(n): round(statistics.median(_overhead_ms(r) for r in runs), 1)
             for n, runs in sorted((scaling | {sessions: samples["farm"]}).items())}
    return {
        "sessions": sessions,
        "repetitions": len(tools),
        "tool_s": round(statistics.median(tools), 3),
        "naive_overhead_ms_per_session": round(statistics.median(naive), 1),
        "farm_overhead_ms_per_session": round(statistics.median(farm), 1),
        "farm_distributed_overhead_ms_per_session": round(statistics.median(dist), 1),
        "startup_s": round(statistics.median(s["startup_s"] for s in samples["farm"]), 3),
        "distributed_startup_s": round(statistics.median(
            s["startup_s"] for s in samples["distributed"]), 3),
        "gate_wait_s": round(sum(s["gate_wait_s"] for s in samples["farm"]
                                 + samples["distributed"]), 3),
        "pushes_second_run": second["pushed"],
        "farm_over_naive": round(statistics.median(farm) / statistics.median(naive), 2)
        if statistics.median(naive) > 0 else None,
        "farm_overhead_ms_by_sessions": scale,
        "rss": {k: round(v, 1) if isinstance(v, float) else v for k, v in rss.items()}
        if rss else None,
        "samples": {"tool_s": [round(t, 3) for t in tools],
                    "tool_s_in_farm_runs": [round(s["tool_s"], 3) for s in samples["farm"]],
                    "naive_ms": [round(x, 1) for x in naive], "farm_ms": [round(x, 1) for x in farm],
                    "distributed_ms": [round(x, 1) for x in dist],
                    "farm_wall_s": [round(s["wall_s"], 2) for s in samples["farm"]],
                    "distributed_wall_s": [round(s["wall_s"], 2) for s in samples["distributed"]]},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _markdown(report: dict[str, Any]) -> str:
    rss = report["rss"] or {}
    return "\n".join([
        "# Orchestration cost (`benchmarks/overhead.py`)", "",
        f"One virtual phone, {report['sessions']} sessions (3 models x xnnpack 1, 2 threads, "
        f"20 runs), medians of {report['repetitions']} alternating repetitions; tool alone "
        f"{report['tool_s']} s.", "",
        "| mode | overhead ms / session |", "|---|---:|",
        f"| plain adb push + shell loop | {report['naive_overhead_ms_per_session']} |",
        f"| farm submit, embedded | {report['farm_overhead_ms_per_session']} |",
        f"| farm submit, one worker + Redis | "
        f"{report['farm_distributed_overhead_ms_per_session']} |", "",
        f"Start-up (CLI to the first session): {report['startup_s']} s embedded, "
        f"{report['distributed_startup_s']} s distributed. Pushes in a second run: "
        f"{report['pushes_second_run']}. Gate waits (excluded): {report['gate_wait_s']} s.", "",
        "Embedded overhead by sessions: " + ", ".join(
            f"{n}: {ms} ms" for n, ms in report["farm_overhead_ms_by_sessions"].items()) + ".",
        "",
        (f"Worker RSS over {rss.get('sessions')} sessions: {rss.get('start_rss_mb')} MB after "
         f"the first run, {rss.get('end_rss_mb')} MB at the end ({rss.get('growth_mb')} MB); "
         "by sessions: " + ", ".join(f"{n}: {mb} MB" for n, mb in
                                     rss.get("rss_mb_by_sessions", {}).items()) + "."
         if rss else ""), ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=24)
    parser.add_argument("--rss-sessions", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--out", type=Path, default=RESULTS / "overhead.json")
    args = parser.parse_args()
    report = run(args.repetitions, args.sessions, args.rss_sessions)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(_markdown(report))
    print(json.dumps(report, indent=2) if args.json else _markdown(report))


if __name__ == "__main__":
    main()
