"""Issue 8 benchmark: the portal and a naive baseline, measured in one run on one machine.

    .venv/bin/python bench/run.py [--latency-ms 100] [--quick]
    .venv/bin/python bench/run.py --faults | --slow-clients | --soak | --sizing   (issue 16)

Starts on 127.0.0.1: redis-server, moto's S3 behind a request counter, an OpenID provider
(oidc-provider-mock) and the Stripe emulator answering every API call after L ms, all
but redis in this process; then, under gunicorn with 2 workers each, the portal (rate
limits off, ``bench/portal_no_limits.py``), the portal as ``wsgi:app`` (for webhooks) and
``bench/naive.py``. It measures page views cold and warm, wrk throughput, webhook events/s
and worker memory, prints the tables and writes them to ``bench/RESULTS.md``. Everything
it starts is stopped when it ends, also on an error, Ctrl-C, SIGTERM or its own deadline.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import faults
import sizing
import slow_clients
import soak
from load import (
    FULL,
    QUICK,
    THROUGHPUT_SIZE,
    Plan,
    measure_naive,
    measure_portal,
    throughput,
    webhook_rate,
)
from report import (
    SIZING_HEADING,
    SIZING_INTRO,
    SLOW_CLIENTS_HEADING,
    SLOW_CLIENTS_INTRO,
    SOAK_HEADING,
    SOAK_INTRO,
    Results,
    keeping_sections,
    render,
    revision,
    with_fault_table,
    with_section,
)
from stack import (
    BENCH,
    HOST,
    ROOT,
    BenchError,
    CpuSnapshot,
    Memory,
    Stack,
    free_port,
    gunicorn,
    memory_kib,
    start_stack,
    workers_of,
)

#: gunicorn workers for the fault phases: the configuration's default on 2 cores.
FAULT_WORKERS = 4
#: After a phase, how long the requests still open may take to finish.
FAULT_SETTLE_SECONDS = 5.0


def run(latency: float, plan: Plan, command: str) -> str:
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="order-portal-bench-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        print(f"Starting the stack (L = {latency * 1000:.0f} ms)…", flush=True)
        started = time.monotonic()
        running = start_stack(stack, workdir, latency)
        portal = stack.enter_context(gunicorn(running, "portal", "bench.portal_no_limits:app"))
        real = stack.enter_context(gunicorn(running, "portal-wsgi", "wsgi:app"))
        naive = stack.enter_context(gunicorn(running, "naive", "bench.naive:app"))
        servers = (portal, real, naive)
        at_boot = {pid: memory_kib(pid)["rss"] for server in servers for pid in workers_of(server)}
        print(f"  ready in {time.monotonic() - started:.1f} s", flush=True)
        cpu_start = CpuSnapshot.now()
        print("Page views, portal:", flush=True)
        views = measure_portal(running, portal, plan)
        print("Page views, naive baseline:", flush=True)
        views += measure_naive(running, naive, plan)
        print("Throughput, warm /orders:", flush=True)
        naive_page = next(
            v for v in views if (v.app, v.page, v.orders) == ("naive", "/orders", THROUGHPUT_SIZE)
        ).p(0.5)
        ours, theirs = throughput(running, portal, naive, plan, naive_page)
        print("Webhooks:", flush=True)
        hooks = webhook_rate(running, real, plan)
        others = CpuSnapshot.now().others_since(cpu_start)
        memory = [
            Memory(server.name, pid, at_boot.get(pid, 0), **memory_kib(pid))
            for server in servers
            for pid in workers_of(server)
        ]
        results = Results(latency, views, ours, theirs, hooks, memory, others)
        print("Stopping…", flush=True)
    return render(results, command, plan)


def _started(stack: ExitStack, kind: str, latency: float) -> Stack:
    """The bench's stack in a temporary folder, both gone when ``stack`` closes."""
    workdir = Path(tempfile.mkdtemp(prefix=f"order-portal-{kind}-"))
    stack.callback(shutil.rmtree, workdir, ignore_errors=True)
    print(f"Starting the stack (L = {latency * 1000:.0f} ms)…", flush=True)
    return start_stack(stack, workdir, latency)


def run_faults(latency: float, seconds: float, command: str, root: Path) -> str:
    """Every fault phase against the portal at ``root``; the Markdown to put in RESULTS.md."""
    with ExitStack() as stack:
        running = _started(stack, "faults", latency)
        server = stack.enter_context(
            gunicorn(running, "portal", "bench.portal_no_limits:app", FAULT_WORKERS, root)
        )
        print(f"Fault phases, {seconds:.0f} s each:", flush=True)
        results = faults.run_phases(running, server, seconds, settle=FAULT_SETTLE_SECONDS)
        memory = [memory_kib(pid) for pid in workers_of(server)]
        faults.read_stripe_fields(results, server.log)
    title = f"Faults at {revision(root)}: `{command}`"
    return faults.render(results, title) + _memory_line(memory)


def run_slow_clients(latency: float, seconds: float, command: str) -> str:
    """Slow connections straight at gunicorn, then at nginx in front of another one."""
    with ExitStack() as stack:
        running = _started(stack, "slow", latency)
        app = "bench.portal_no_limits:app"
        direct = stack.enter_context(gunicorn(running, "direct", app, FAULT_WORKERS))
        https_port = free_port()
        upstream = stack.enter_context(
            gunicorn(running, "upstream", app, FAULT_WORKERS, behind=f"https://{HOST}:{https_port}")
        )
        front = stack.enter_context(slow_clients.nginx_in_front(running, https_port, upstream))
        ca = running.workdir / "nginx" / "ca.pem"
        print(f"Slow clients, {seconds:.0f} s per phase:", flush=True)
        results = slow_clients.run_phases(
            running,
            [("gunicorn direct (before)", direct, None), ("through nginx (after)", front, ca)],
            seconds,
        )
    return slow_clients.render(results, f"Slow clients at {revision()}: `{command}`")


def run_soak(latency: float, minutes: float, command: str) -> str:
    """The steady load for ``minutes``, memory per worker once a minute."""
    with ExitStack() as stack:
        running = _started(stack, "soak", latency)
        server = stack.enter_context(
            gunicorn(running, "portal", "bench.portal_no_limits:app", FAULT_WORKERS)
        )
        print(f"Soak, {minutes:g} min:", flush=True)
        result = soak.run(running, server, minutes, FAULT_WORKERS)
    return soak.render(result, f"Soak of {minutes:g} min at {revision()}: `{command}`")


def run_sizing(latency: float, seconds: float, command: str) -> str:
    """The steady load against each gunicorn configuration, Stripe healthy then slow."""
    with ExitStack() as stack:
        running = _started(stack, "sizing", latency)
        print(f"Sizing, {seconds:.0f} s per configuration and condition:", flush=True)
        measured = sizing.run(running, "bench.portal_no_limits:app", seconds)
    return sizing.render(measured, f"Sizing at {revision()}: `{command}`")


def _memory_line(memory: list[dict[str, int]]) -> str:
    def mib(field: str) -> str:
        return ", ".join(f"{m[field] / 1024:.0f}" for m in memory)

    return (
        f"\nWorkers' memory after the phases (MiB): RSS {mib('rss')}; peak RSS {mib('hwm')}; "
        f"PSS {mib('pss')}; USS {mib('uss')}.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency-ms", type=float, default=100.0, help="Stripe latency L")
    parser.add_argument("--quick", action="store_true", help="fewer views, shorter loads")
    parser.add_argument(
        "--faults", action="store_true", help="the fault phases (bench/RESULTS.md, Faults)"
    )
    parser.add_argument("--phase-seconds", type=float, default=20.0, help="each fault's length")
    parser.add_argument(
        "--app-root", type=Path, default=ROOT, help="run the portal from this checkout"
    )
    parser.add_argument(
        "--slow-clients",
        action="store_true",
        help="slow connections, gunicorn direct vs nginx (bench/RESULTS.md, Slow clients)",
    )
    parser.add_argument(
        "--slow-seconds", type=float, default=30.0, help="each slow-clients phase's length"
    )
    parser.add_argument(
        "--soak", action="store_true", help="memory per worker under load (RESULTS.md, Soak)"
    )
    parser.add_argument("--soak-minutes", type=float, default=60.0, help="the soak's length")
    parser.add_argument(
        "--sizing",
        action="store_true",
        help="gunicorn threads and gevent, Stripe healthy and slow (RESULTS.md, Sizing)",
    )
    parser.add_argument(
        "--sizing-seconds", type=float, default=25.0, help="each sizing cell's length"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.latency_ms <= 2000:
        parser.error("--latency-ms must be between 0 and 2000")
    plan = QUICK if args.quick else FULL
    command = shlex.join(["python", "bench/run.py", *(argv or sys.argv[1:])])
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if args.faults:
        return _faults_main(args, command)
    if args.slow_clients:
        return _section_main(
            lambda: run_slow_clients(args.latency_ms / 1000, args.slow_seconds, command),
            SLOW_CLIENTS_HEADING,
            SLOW_CLIENTS_INTRO,
        )
    if args.sizing:
        return _section_main(
            lambda: run_sizing(args.latency_ms / 1000, args.sizing_seconds, command),
            SIZING_HEADING,
            SIZING_INTRO,
        )
    if args.soak:
        return _section_main(
            lambda: run_soak(args.latency_ms / 1000, args.soak_minutes, command),
            SOAK_HEADING,
            SOAK_INTRO,
        )
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed: apt-get install -y wrk")

    def give_up(signum: int, _frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum} (deadline {plan.deadline} s or SIGTERM)")

    signal.signal(signal.SIGTERM, give_up)
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(plan.deadline)
    began = time.monotonic()
    try:
        report = run(args.latency_ms / 1000, plan, command)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
    results = BENCH / "RESULTS.md"
    previous = results.read_text() if results.exists() else ""
    results.write_text(keeping_sections(previous, report))
    print()
    print(report)
    print(f"Written to bench/RESULTS.md in {time.monotonic() - began:.0f} s.")
    return 0


def _faults_main(args: argparse.Namespace, command: str) -> int:
    began = time.monotonic()
    try:
        table = run_faults(args.latency_ms / 1000, args.phase_seconds, command, args.app_root)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    results = BENCH / "RESULTS.md"
    results.write_text(with_fault_table(results.read_text(), table))
    print()
    print(table)
    print(f"Added to bench/RESULTS.md (Faults) in {time.monotonic() - began:.0f} s.")
    return 0


def _section_main(measure: Callable[[], str], heading: str, intro: str) -> int:
    began = time.monotonic()
    try:
        table = measure()
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    results = BENCH / "RESULTS.md"
    results.write_text(with_section(results.read_text(), heading, intro, table))
    print()
    print(table)
    print(
        f"Added to bench/RESULTS.md ({heading.removeprefix('## ')}) in "
        f"{time.monotonic() - began:.0f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
