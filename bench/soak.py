"""A soak (issue 16): the steady load of ``traffic.Traffic`` for an hour (or as long as
asked), with each gunicorn worker's memory read once a minute: RSS, PSS and USS.

gunicorn replaces a worker after ``max_requests`` (2000, jitter 400; config/gunicorn.conf.py),
so a worker's column may show a new process: it is marked, and its growth is measured
over its own life only. Growth per worker is the least-squares slope of its PSS over the
samples it lived through (three or more, from minute 1 on).

The shop's data grows as a real shop's does: of the webhook's new orders (one a second),
nine in ten are placed by first-time buyers who never log in and one in ten by one of the
viewing customers, whose histories so grow from 2 to about 11 orders in the hour. The
first soak (RESULTS.md, at 5526793) gave every new order to the 40 viewers, 2 to 92 orders
each: a worker's memory then follows the size of the histories it reads (a Stripe page of
92 sessions with their line items and charges is read whole on every refresh), not the
time it has run.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from stack import Server, Stack, memory_kib, workers_of
from traffic import Answer, Traffic, p50_p99, shoppers

#: Seconds between two memory samples.
SAMPLE_EVERY = 60.0
#: PSS per worker the issue sets as the target (MiB).
PSS_TARGET_MIB = 60
#: The share of new orders placed by buyers who never log in.
FIRST_TIME_BUYERS = 0.9


@dataclass
class Sample:
    minute: float
    #: Per worker slot: (pid, KiB figures from ``stack.memory_kib``), or None if it had none.
    workers: list[tuple[int, dict[str, int]] | None]
    answers: list[Answer]


@dataclass
class Soak:
    samples: list[Sample] = field(default_factory=list)
    replaced: int = 0


class Slots:
    """Keeps each worker in the same column; a replacement takes its predecessor's."""

    def __init__(self, count: int) -> None:
        self._pids: list[int | None] = [None] * count

    def place(self, pids: list[int]) -> tuple[list[int | None], int]:
        """The slots' pids now, and how many of them are new since the last call."""
        alive = set(pids)
        self._pids = [pid if pid in alive else None for pid in self._pids]
        new = [pid for pid in pids if pid not in self._pids]
        for pid in new:
            if None in self._pids:
                self._pids[self._pids.index(None)] = pid
            else:
                self._pids.append(pid)
        return list(self._pids), len(new)


def run(stack: Stack, server: Server, minutes: float, workers: int) -> Soak:
    """The load for ``minutes``, a memory sample at the start and after each minute."""
    traffic = Traffic(stack, server, shoppers(stack, server), first_time_buyers=FIRST_TIME_BUYERS)
    slots = Slots(workers)
    soak = Soak()
    started = time.monotonic()
    try:
        with traffic.running():
            next_at = started
            while True:
                pids, new = slots.place(workers_of(server))
                if soak.samples:
                    soak.replaced += new
                answers, _acknowledged = traffic.take()
                soak.samples.append(
                    Sample(
                        (time.monotonic() - started) / 60,
                        [_read(pid) for pid in pids],
                        answers,
                    )
                )
                _progress(soak.samples[-1])
                next_at += SAMPLE_EVERY
                if next_at > started + minutes * 60 + 1:
                    break
                time.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        traffic.close()
    return soak


def _progress(sample: Sample) -> None:
    """The sample on the terminal as it is taken (what a cut-short soak leaves behind)."""
    memory = ", ".join(
        f"{w[0]}: {w[1]['rss'] / 1024:.0f}/{w[1]['pss'] / 1024:.0f}/{w[1]['uss'] / 1024:.0f}"
        for w in sample.workers
        if w is not None
    )
    print(f"  minute {sample.minute:.0f}, RSS/PSS/USS MiB {memory}", flush=True)


def _read(pid: int | None) -> tuple[int, dict[str, int]] | None:
    if pid is None:
        return None
    try:
        return pid, memory_kib(pid)
    except (OSError, KeyError):  # the worker exited between the listing and the read
        return None


def render(soak: Soak, title: str) -> str:
    """One row per minute (requests of the minute before it, each worker's memory), then
    per worker process its PSS growth."""
    slots = max(len(s.workers) for s in soak.samples)
    lines = [
        f"### {title}",
        "",
        "| Minute | Requests (5xx, no answer) | Pages p50 / p99 ms | "
        + " | ".join(f"Worker {n + 1} RSS / PSS / USS MiB" for n in range(slots))
        + " |",
        "| ---: | --- | --- | " + " | ".join("---" for _ in range(slots)) + " |",
    ]
    previous: set[int] | None = None
    for sample in soak.samples:
        now = {w[0] for w in sample.workers if w is not None}
        cells = []
        for worker in sample.workers + [None] * (slots - len(sample.workers)):
            if worker is None:
                cells.append("-")
                continue
            pid, kib = worker
            mark = " (new)" if previous is not None and pid not in previous else ""
            cells.append(
                f"{kib['rss'] / 1024:.0f} / {kib['pss'] / 1024:.0f} / {kib['uss'] / 1024:.0f}{mark}"
            )
        previous = now
        pages = [a for a in sample.answers if a.kind in ("list", "detail", "download")]
        codes = Counter(a.status for a in sample.answers)
        errors = sum(n for code, n in codes.items() if code >= 500)
        lines.append(
            f"| {sample.minute:.0f} | {len(sample.answers)} ({errors}, {codes.get(0, 0)}) "
            f"| {p50_p99(pages)} | " + " | ".join(cells) + " |"
        )
    growth = _growth(soak)
    peak = max((w[1]["pss"] for s in soak.samples for w in s.workers if w is not None), default=0)
    lines += [
        "",
        f"Workers replaced by gunicorn (max_requests) during the soak: {soak.replaced}. "
        f"Peak PSS of a worker: {peak / 1024:.1f} MiB (target ≤ {PSS_TARGET_MIB} MiB: "
        f"{'met' if peak <= PSS_TARGET_MIB * 1024 else '**not met**'}). PSS growth per worker "
        "process over its own samples (MiB/min): "
        + (", ".join(f"{pid}: {slope:+.2f} over {n} min" for pid, slope, n in growth) or "-")
        + ".",
        "",
    ]
    return "\n".join(lines)


def _growth(soak: Soak) -> list[tuple[int, float, int]]:
    """(pid, least-squares PSS slope in MiB/min, minutes covered) per worker process,
    from minute 1 on: the first minute's growth is the worker warming up (imports done
    lazily, caches, connection pools), not a leak."""
    series: dict[int, list[tuple[float, float]]] = {}
    for sample in soak.samples[1:]:  # minute 0 comes before any request
        for worker in sample.workers:
            if worker is not None:
                series.setdefault(worker[0], []).append((sample.minute, worker[1]["pss"] / 1024))
    found = []
    for pid, points in series.items():
        if len(points) < 3:
            continue
        xs, ys = [x for x, _ in points], [y for _, y in points]
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        spread = sum((x - mean_x) ** 2 for x in xs)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
        found.append((pid, slope, round(xs[-1] - xs[0])))
    return found
