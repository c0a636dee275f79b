#!/usr/bin/env python3
"""Exploration benchmark (BENCHMARKS.md, "Crash-state exploration").

Three tables, each row one `blackout run` whose report.json gives the states
checked and where the time went (scenarios[].exploration: record_s,
generate_s, check_s, diagnose_s; the diagnoses' re-checks, and of them those
a state checked before answered; crash_states[].exploration.timing summed: materialize,
recover, check):

1. per engine: N ops with nothing synced after the first sync step, crash at
   the end, crash.states ["prefix"], so the point has about N pending
   operations and N+1 prefix states; once with the states recovered in memory
   (the default) and once by a `blackout engine --dump` child each
   (--recovery child);
2. the issue's target, all prefix states of 1,000-operation wal workloads:
   wal-1000-every-op-prefix.json (batch sync every 10, a crash point after
   every op) and wal-1000-unsynced-prefix.json (sync_mode none, 4 KiB values,
   so each append reaches the filesystem as its own writes and all of them
   are pending at the crash at the end);
3. the path for any program: an exec scenario (scenarios/exec/records.py,
   one fsynced file per record, directory entries pending), each state
   written to disk and checked by running the program's check command.

usage: bench/explore/explore_bench.py BLACKOUT_BIN [--ops N] [--jobs J] [--engines wal,lsm]
                                      [--skip-target] [--skip-exec]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))

ENGINES = {
    # config that leaves every op pending (no fsync after the first sync step)
    # wal and btree buffer their writes until they sync: at the end at most one
    # unsynced batch is pending (see the target table for the wal).
    "wal": ({"sync_mode": "batch", "batch_sync_count": 1000000}, {"op": "append", "key": "k{i}", "value": "v{i}"}),
    "bitcask": ({"sync_writes": False}, {"op": "put", "key": "k{i}", "value": "v{i}"}),
    "lsm": ({"memtable_threshold": 1000000}, {"op": "put", "key": "k{i}", "value": "v{i}"}),
    "btree": ({}, {"op": "put", "key": "k{i}", "value": "v{i}"}),
    "eventstore": ({}, {"op": "append", "stream": "s{i}", "type": "Added", "data": {"n": "{i}"}}),
}


def run(blackout, scenario, jobs, recovery=None):
    """Runs one scenario; returns (wall s, scenario report)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        cmd = [blackout, "run", scenario, "--quiet", "--jobs", str(jobs), "--out", out]
        if recovery:
            cmd += ["--recovery", recovery]
        t0 = time.monotonic()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.monotonic() - t0
        with open(os.path.join(out, "report.json")) as f:
            return wall, json.load(f)["scenarios"][0]


def row(label, wall, rep):
    states = rep.get("crash_states", [])
    sums = {"materialize_s": 0.0, "recover_s": 0.0, "check_s": 0.0}
    for st in states:
        for k, v in (st.get("exploration") or {}).get("timing", {}).items():
            sums[k] += v
    rechecks = known = 0
    for st in states:
        dg = (st.get("exploration") or {}).get("diagnosis") or {}
        rechecks += dg.get("rechecks", 0)
        known += dg.get("rechecks_known", 0)
    ex = rep.get("exploration", {})
    rate = len(states) / wall if wall else 0
    print(f"| {label} | {len(states)} | {rep['outcome']} | {wall:.1f} | {rate:.0f} | "
          f"{ex.get('record_s', 0):.2f} | {ex.get('check_s', 0):.2f} | "
          f"{ex.get('diagnose_s', 0):.2f} | {rechecks} ({known}) | "
          f"{sums['materialize_s']:.2f} | {sums['recover_s']:.2f} | {sums['check_s']:.2f} |")
    sys.stdout.flush()


HEADER = ("| {} | states | outcome | wall s | states/s | record s | explore s | diagnose s "
          "| re-checks (known) | materialize s | recover s | check s |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("blackout")
    ap.add_argument("--ops", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--skip-target", action="store_true")
    ap.add_argument("--skip-exec", action="store_true")
    a = ap.parse_args()

    print(HEADER.format(f"engine ({a.ops} unsynced ops), recovery"))
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
            for recovery in ("in-memory", "child"):
                wall, rep = run(a.blackout, path, a.jobs, recovery)
                row(f"{name}, {recovery}", wall, rep)

    if not a.skip_target:
        print()
        print(HEADER.format("1,000-op wal workload, recovery"))
        for name in ("wal-1000-every-op-prefix", "wal-1000-unsynced-prefix"):
            path = os.path.join(HERE, name + ".json")
            for recovery in ("in-memory", "child"):
                if recovery == "child" and name == "wal-1000-unsynced-prefix":
                    continue  # 2,000 children of 4 MiB logs: minutes, and nothing new
                wall, rep = run(a.blackout, path, a.jobs, recovery)
                row(f"{name}, {recovery}", wall, rep)

    if not a.skip_exec:
        print()
        print(HEADER.format("exec program (records.py), recovery"))
        with tempfile.TemporaryDirectory() as tmp:
            records = os.path.join(SOURCE, "scenarios", "exec", "records.py")
            n = min(a.ops, 100)
            doc = {
                "name": "explore-bench-exec-records",
                "description": "Exploration benchmark: one fsynced file per record, entries pending.",
                "workload": {"exec": f"python3 {records} write {n} --sync file"},
                "fs": {"model": "posix-strict"},
                "crash": {"kind": "power", "at": "end", "states": ["prefix"]},
                "check": {"exec": f"python3 {records} check",
                          "invariants": ["recovers", "acked-durable", "no-corruption"]},
                "expect": {"violations": ["acked-durable"]},
            }
            path = os.path.join(tmp, "exec.json")
            with open(path, "w") as f:
                json.dump(doc, f)
            wall, rep = run(a.blackout, path, a.jobs)
            row(f"records.py write {n}, on disk + check program", wall, rep)


if __name__ == "__main__":
    main()
