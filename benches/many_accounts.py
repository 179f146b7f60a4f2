#!/usr/bin/env python3
"""Many accounts, three ways: one process, a two-worker Dask cluster, two-worker Ray.

    python benches/many_accounts.py            # 48 accounts (16 per vendor) x 3 months, 50 ms latency
    BENCH_SIZE=tiny python benches/many_accounts.py   # 6 accounts x 2 weeks: a smoke run

Needs the module and the extras installed (`pip install ".[dask,ray]"`; the test environment of
scripts/test-python.sh has them). Prints a Markdown table.

Every runner pulls the same plan (every account cut into weeks, `per_account=1`) from one
in-process simulator that answers after `--latency-ms` and allows `--rate-limit` requests per
second per account (429 with Retry-After above it). Each runner may pull `--slots` partitions
at once: a thread pool of that size in one process, Ray read tasks of `2/slots` CPU on
`ray.init(num_cpus=2)`; Dask workers get `slots` threads each (twice as many in all), because
Dask runs the tasks in an order of its own, not the plan's, and a thread whose partition waits
for its account's lease would otherwise sit idle while other accounts wait.

The bound: an account can answer at most `rate_limit` requests a second, so the run cannot end
before its busiest account has had its answered requests at that rate. "Share of the bound"
is that time over the pull's wall time (1.0: every account at its limit from start to end);
starting the cluster is timed apart. All figures come from this one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Callable, Dict, List, Tuple

import chathaul

Rows = List[Dict[str, Any]]
# What a runner measured: the partitions' rows, seconds to start the cluster, seconds to pull.
Measured = Tuple[Rows, float, float]


def one_process(parts: List[chathaul.Partition], slots: int) -> Measured:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=slots) as pool:
        results = list(pool.map(chathaul.pull_partition, parts))
    pulled = time.monotonic() - started
    return [
        {
            "vendor": r.partition.vendor,
            "account": r.partition.account,
            "conversations": r.conversations.num_rows,
            "requests": r.report["stats"]["http"]["requests"],
            "throttled": r.report["stats"]["http"]["throttled"],
        }
        for r in results
    ], 0.0, pulled


def _rows(partitions: Any) -> Rows:
    return [
        {"vendor": v, "account": a, "conversations": int(c), "requests": int(q), "throttled": int(t)}
        for v, a, c, q, t in zip(
            partitions["vendor"], partitions["account"], partitions["conversations"], partitions["requests"], partitions["throttled"]
        )
    ]


def dask_cluster(parts: List[chathaul.Partition], slots: int) -> Measured:
    import chathaul.dask
    from distributed import Client, LocalCluster

    started = time.monotonic()
    with LocalCluster(n_workers=2, threads_per_worker=slots, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            client.wait_for_workers(2)
            up = time.monotonic() - started
            started = time.monotonic()
            rows = _rows(chathaul.dask.from_partitions(parts).compute(retries=2).partitions)
            return rows, up, time.monotonic() - started


def ray_cluster(parts: List[chathaul.Partition], slots: int) -> Measured:
    import ray
    import ray.data

    import chathaul.ray

    started = time.monotonic()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        up = time.monotonic() - started
        started = time.monotonic()
        tables = chathaul.ray.from_partitions(parts, num_cpus=2 / slots)
        pulled = time.monotonic() - started  # from_partitions returns once every partition is pulled
        return _rows(tables.partitions.to_pandas()), up, pulled
    finally:
        ray.shutdown()


def main() -> None:
    tiny = os.environ.get("BENCH_SIZE") == "tiny"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts-per-vendor", type=int, default=2 if tiny else 16)
    ap.add_argument("--conversations", type=int, default=20 if tiny else 120, help="per account, over the whole span")
    ap.add_argument("--days", type=int, default=14 if tiny else 90)
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--rate-limit", type=int, default=10, help="requests per second per account")
    ap.add_argument("--every", default="7d")
    ap.add_argument("--slots", type=int, default=8 if tiny else 32)
    ap.add_argument("--runners", default="one-process,dask,ray")
    args = ap.parse_args()

    runners: Dict[str, Tuple[str, Callable[[List[chathaul.Partition], int], Measured]]] = {
        "one-process": (f"one process, {args.slots} threads", one_process),
        "dask": (f"Dask LocalCluster, 2 workers x {args.slots} threads", dask_cluster),
        "ray": (f"Ray, num_cpus=2, {args.slots} read tasks at once", ray_cluster),
    }
    with chathaul.Simulator(
        seed=48,
        conversations=args.conversations,
        days=args.days,
        accounts=args.accounts_per_vendor,
        latency_ms=args.latency_ms,
        rate_limit=args.rate_limit,
    ) as sim:
        parts = chathaul.plan(sim, sim.start, sim.start + timedelta(days=args.days), every=args.every)
        accounts = args.accounts_per_vendor * len(sim.vendors)
        want = sum(len(sim.truth(v, account=a)) for v in sim.vendors for a in range(sim.accounts))
        print(
            f"{accounts} accounts x {args.days} days, {len(parts)} partitions ({args.every} windows), "
            f"{args.conversations} conversations per account; simulator: {args.latency_ms:g} ms latency, "
            f"{args.rate_limit} requests/s per account; per_account=1\n"
        )
        print("| runner | cluster start s | pull s | conversations | requests | 429s | answered req/s | bound s | share of the bound |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for key in [k.strip() for k in args.runners.split(",") if k.strip()]:
            label, run = runners[key]
            rows, up, wall = run(parts, args.slots)
            answered: Dict[str, int] = defaultdict(int)
            for r in rows:
                answered[f"{r['vendor']}/{r['account']}"] += r["requests"] - r["throttled"]
            conversations = sum(r["conversations"] for r in rows)
            if conversations != want or len(rows) != len(parts):
                sys.exit(f"{label}: {conversations} conversations from {len(rows)} partitions, want {want} from {len(parts)}")
            requests = sum(r["requests"] for r in rows)
            throttled = sum(r["throttled"] for r in rows)
            bound = max(answered.values()) / args.rate_limit
            print(
                f"| {label} | {up:.1f} | {wall:.1f} | {conversations} | {requests} | {throttled} | "
                f"{(requests - throttled) / wall:.0f} | {bound:.1f} | {bound / wall:.2f} |",
                flush=True,
            )
            time.sleep(1.5)  # the simulator's one-second rate windows start empty for the next runner


if __name__ == "__main__":
    main()
