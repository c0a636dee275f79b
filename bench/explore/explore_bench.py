#!/usr/bin/env python3
"""Exploration benchmark (BENCHMARKS.md, "Crash-state exploration").

Writes one scenario per built-in engine: N ops with nothing synced after the
first sync step, crash at the end, crash.states ["prefix"], so the point has
about N pending operations and N+1 prefix states, each materialized,
recovered by a `blackout engine --dump` child and checked. Runs them with
`blackout run --jobs J` and prints, per engine, the states checked, the wall
time and states/s, and the summed time of materialize / recover / check
(report.json, crash_states[].exploration.timing).

usage: bench/explore/explore_bench.py BLACKOUT_BIN [--ops N] [--jobs J] [--engines wal,lsm]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ENGINES = {
    # config that leaves every op pending (no fsync after the first sync step)
    # wal and btree buffer their writes until they sync: at the end at most one
    # unsynced batch is pending (see wal-1000-every-op-prefix.json for the wal target).
    "wal": ({"sync_mode": "batch", "batch_sync_count": 1000000}, {"op": "append", "key": "k{i}", "value": "v{i}"}),
    "bitcask": ({"sync_writes": False}, {"op": "put", "key": "k{i}", "value": "v{i}"}),
    "lsm": ({"memtable_threshold": 1000000}, {"op": "put", "key": "k{i}", "value": "v{i}"}),
    "btree": ({}, {"op": "put", "key": "k{i}", "value": "v{i}"}),
    "eventstore": ({}, {"op": "append", "stream": "s{i}", "type": "Added", "data": {"n": "{i}"}}),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("blackout")
    ap.add_argument("--ops", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--engines", default=",".join(ENGINES))
    a = ap.parse_args()
    print(f"| engine | ops | states | wall s | states/s | materialize s | recover s | check s |")
    print(f"|---|---|---|---|---|---|---|---|")
    for name in a.engines.split(","):
        config, op = ENGINES[name]
        with tempfile.TemporaryDirectory() as tmp:
            doc = {
                "name": f"explore-bench-{name}",
                "description": "Exploration benchmark: every prefix state of N unsynced ops.",
                "engine": {"name": name, "config": config},
                "workload": [{"step": "sync"}, dict(op, repeat=a.ops)],
                "crash": {"kind": "power", "at": "end", "states": ["prefix"]},
                "check": ["recovers", "acked-durable", "no-corruption"],
                "expect": {"violations": []},
            }
            path = os.path.join(tmp, f"{name}.json")
            with open(path, "w") as f:
                json.dump(doc, f)
            out = os.path.join(tmp, "out")
            t0 = time.monotonic()
            subprocess.run([a.blackout, "run", path, "--quiet", "--jobs", str(a.jobs), "--out", out],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wall = time.monotonic() - t0
            rep = json.load(open(os.path.join(out, "report.json")))
            states = rep["scenarios"][0].get("crash_states", [])
            sums = {"materialize_s": 0.0, "recover_s": 0.0, "check_s": 0.0}
            for st in states:
                for k, v in (st.get("exploration") or {}).get("timing", {}).items():
                    sums[k] += v
            print(f"| {name} | {a.ops} | {len(states)} | {wall:.1f} | {len(states) / wall:.0f} | "
                  f"{sums['materialize_s']:.2f} | {sums['recover_s']:.2f} | {sums['check_s']:.2f} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
