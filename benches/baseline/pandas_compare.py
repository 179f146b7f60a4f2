#!/usr/bin/env python3
"""`conn.pull(...).to_pandas()` against a DataFrame built from the baseline's dicts.

Both fetch every Bangwo8 conversation of an in-process `chathaul.Simulator`
(no latency) with messages and summaries, and end with two DataFrames: one
row per conversation and one row per message. Prints one JSON line of figures
(seconds) for `chathaul-bench`.

    PYTHONPATH=python python benches/baseline/pandas_compare.py --conversations 1000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import statistics
import time

import pandas as pd

import chathaul

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import baseline  # noqa: E402

VENDOR = "bangwo8"


REPEAT = 5


def median_time(build):
    """The median time of `build()` over REPEAT runs, with its last result."""
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        out = build()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def frames(dicts):
    """The frames a user builds from the dicts: conversations flattened
    (nested objects as columns, without messages and raw), messages one row
    each with the conversation's key."""
    conv_rows = [{k: v for k, v in d.items() if k not in ("messages", "raw")} for d in dicts]
    b_conversations = pd.json_normalize(conv_rows, sep="_")
    msg_rows = [
        {"vendor": d["vendor"], "account": d["account"], "conversation_id": d["id"], "seq": i,
         **{k: v for k, v in m.items() if k != "raw"}}
        for d in dicts
        for i, m in enumerate(d["messages"])
    ]
    b_messages = pd.json_normalize(msg_rows, sep="_")
    for col in ("created_at", "assigned_at", "answered_at", "ended_at", "rating_rated_at"):
        if col in b_conversations:
            b_conversations[col] = pd.to_datetime(b_conversations[col], utc=True)
    if "sent_at" in b_messages:
        b_messages["sent_at"] = pd.to_datetime(b_messages["sent_at"], utc=True)
    return b_conversations, b_messages


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--conversations", type=int, default=1000)
    a = p.parse_args()
    with chathaul.Simulator(conversations=a.conversations) as sim:
        config = sim.config(VENDOR)

        conn = chathaul.connect(VENDOR, **config)
        t0 = time.perf_counter()
        result = conn.pull(messages=True, summaries=True, progress=False)
        t1 = time.perf_counter()
        # Building the frames takes milliseconds: each way is timed REPEAT
        # times and the median kept, so one stall does not make the figure.
        chathaul_frames, (conversations, messages) = median_time(result.to_pandas)

        for k, v in config.items():
            os.environ[f"CHATHAUL_{VENDOR.upper()}_{k.upper()}"] = str(v)
        t3 = time.perf_counter()
        dicts = list(baseline.pull(VENDOR))
        t4 = time.perf_counter()
        baseline_frames, (b_conversations, b_messages) = median_time(lambda: frames(dicts))

    print(json.dumps({
        "conversations": a.conversations,
        "chathaul_fetch": t1 - t0,
        "chathaul_frames": chathaul_frames,
        "chathaul_total": t1 - t0 + chathaul_frames,
        "chathaul_conversations": len(conversations),
        "chathaul_messages": len(messages),
        "baseline_fetch": t4 - t3,
        "baseline_frames": baseline_frames,
        "baseline_total": t4 - t3 + baseline_frames,
        "baseline_conversations": len(b_conversations),
        "baseline_messages": len(b_messages),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
