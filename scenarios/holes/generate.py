#!/usr/bin/env python3
"""Writes scenarios/holes/*.json from the table below: per hole, the default
profile under posix-strict and ext4-ordered, and the fixed-profile twins in
fixed/. Edit the table, not the JSON files; run from anywhere.

EXPECT maps (profile, model) to the violations a run shows; holes.json is
the hole table the reports render."""
import json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASIC = ["recovers", "acked-durable", "prefix", "no-corruption"]

def op(o, **kw):
    d = {"op": o}; d.update(kw); return d
def step(s, **kw):
    d = {"step": s}; d.update(kw); return d
def crash(kind="process", state=None):
    d = {"step": "crash", "kind": kind}
    if state: d["states"] = [state]
    return d
def damage(path, truncate=None, flip=None, duplicate_line=None):
    d = {"step": "damage", "path": path}
    if truncate is not None: d["truncate"] = truncate
    elif duplicate_line is not None: d["duplicate_line"] = duplicate_line
    else: d["flip"] = flip
    return d

# id, slug, engine, config, workload, final crash, check, description,
# expected violations {"default": [...], "default-ext4": [...], "fixed": [...]}
HOLES = []
def hole(hid, slug, engine, config, workload, final, check, desc, default, ext4=None, fixed=(),
         faults=None, trigger=None, fixed_note=None, promise=None):
    """faults / trigger: a list of fail rules / a crash-after trigger, or a
    dict {"default": ..., "fixed": ...} when the profiles' operation counts
    differ. fixed_note: how the fixed profile closes the hole, when its twin
    still shows a violation (it refuses loudly instead of losing silently).
    promise: the scenario's promise, where the hole breaks what an application
    needs rather than what the configuration declares."""
    HOLES.append(dict(id=hid, slug=slug, engine=engine, config=config, workload=workload,
                      final=final, check=check, desc=desc, default=sorted(default),
                      ext4=sorted(default if ext4 is None else ext4), fixed=sorted(fixed),
                      faults=faults, trigger=trigger, fixed_note=fixed_note, promise=promise))

def per_profile(v, profile):
    if isinstance(v, dict) and "default" in v: return v[profile]
    return v

POWER = {"kind": "power", "at": "end", "states": ["drop-all"]}
TRIGGER = {"kind": "power"}  # crash.at.after is filled in from the hole's trigger
PROCESS = {"kind": "process", "at": "end"}

# ---- WAL -------------------------------------------------------------------
hole("H-W1", "replay-ignores-commit", "wal", {},
     [op("append", key="a", value="1"),
      op("append_batch", items=[{"key": "x", "value": "1"}, {"key": "y", "value": "2"},
                                {"key": "z", "value": "3"}]),
      crash("process"), damage("000001.wal", truncate=-30)],
     PROCESS, BASIC + ["atomic-batches"],
     "H-W1: replay ignores COMMIT, so a batch whose COMMIT and last record were torn off is replayed half, breaking the batch's atomicity.",
     ["atomic-batches"])
hole("H-W2", "seq-reset-after-truncate", "wal", {},
     [op("append", key="a", value="1"), op("append", key="b", value="2"),
      op("checkpoint"), op("truncate", up_to=3), step("restart"),
      op("append", key="c", value="3"), op("replay", after=3)],
     PROCESS, BASIC + ["replay-complete"],
     "H-W2: after a full truncate the seq numbers restart at 1 on reopen, so replay(after=checkpoint) skips every record appended since the restart.",
     ["replay-complete"])
hole("H-W3", "rotation-without-directory-fsync", "wal", {"max_file_size": 120},
     [step("sync"), op("append", key="k{i}", value="value-{i}", repeat=8)],
     POWER, BASIC,
     "H-W3: a segment created by rotation is never made durable in its directory, so a power cut loses the fsynced records in it.",
     ["acked-durable"])
hole("H-W4", "torn-tail-swallows-appends", "wal", {},
     [op("append", key="a", value="1"), op("append", key="b", value="2"),
      crash("process"), damage("000001.wal", truncate=-5),
      op("append", key="c", value="3"), op("append", key="d", value="4")],
     PROCESS, BASIC,
     "H-W4: a torn tail is never cut off, so the records appended after the restart land behind it and are swallowed (or make the log unopenable) at the next restart.",
     ["acked-durable"])
hole("H-W5", "seq-high-water-past-replay", "wal", {"max_file_size": 10},
     [op("append", key="a", value="1"), op("append", key="b", value="2"),
      op("append", key="c", value="3"), crash("process"),
      damage("000002.wal", flip={"offset": -1, "bit": 0}),
      op("append", key="d", value="4"), op("replay", after=3)],
     PROCESS, ["recovers", "replay-complete"],
     "H-W5: after a corrupt middle segment the seq high-water mark comes from later files that replay never reaches, so a record appended after the restart is never replayed.",
     ["replay-complete"])
hole("H-W7", "batch-mode-loses-acked", "wal", {"sync_mode": "batch", "batch_sync_count": 10},
     [op("append", key="k{i}", value="v{i}", repeat=5)],
     PROCESS, BASIC,
     "H-W7: batch mode defers the flush with the fsync, so every record since the last batch sync (up to batch_sync_count - 1) is still in the userspace buffer, and a process crash loses acknowledged records that an application needing them to survive a process crash (promise process: acked) counts on.",
     ["acked-durable"], promise={"process": "acked"},
     fixed_note="The fixed profile flushes every record, so a process crash loses none (power loss still keeps only the synced prefix, as batch mode declares); it also refuses an unknown sync_mode, which REF treats as no flush and no fsync at all (wal_test).")

# ---- Bitcask ---------------------------------------------------------------
# 22-byte records, two per file: compaction merges the six keys' latest
# values into 4.data + 4.hint (never fsynced) after unlinking the old files.
# Under ext4-ordered the later put's fsync commits the unlinks and renames
# while the merged file's delayed-allocation data is not written: the merged
# values are lost, and with them the order (prefix).
hole("H-B1", "compaction-unfsynced-merge", "bitcask", {"max_file_size": 60},
     [op("put", key="k{i}", value="old{i}", repeat=6), op("put", key="k{i}", value="new{i}", repeat=6),
      op("compact"), op("put", key="z", value="after")],
     POWER, BASIC,
     "H-B1: compaction never fsyncs the merged file or its hint and unlinks the old files first, so a power cut after a later fsync can keep the unlinks and lose the merged data.",
     ["acked-durable"])
hole("H-B3", "torn-header-truncated-value", "bitcask", {},
     [op("put", key="a", value="first"), op("put", key="b", value="xyzxyz"),
      crash("process"), damage("0.data", truncate=-3)],
     PROCESS, BASIC + ["exact-values"],
     "H-B3: a torn record whose 16-byte header survived is not detected, so recovery serves a truncated value (an append behind it would misframe too, in a way that depends on the clock bytes of its header, so the scenario stops before one).",
     ["exact-values"])
hole("H-B4", "close-never-fsyncs", "bitcask", {"sync_writes": False},
     [op("put", key="k{i}", value="v{i}", repeat=5), step("restart")],
     POWER, BASIC,
     "H-B4: close() never fsyncs, so with sync_writes=false a clean shutdown followed by a power cut loses every write, which an application that shuts down cleanly before the power goes (promise power: acked: everything acknowledged before the clean close) counts on; the declared contract, power: none, allows the loss.",
     ["acked-durable"], promise={"power": "acked"},
     fixed_note="The fixed profile fsyncs the active file and the directory on close, so nothing acknowledged before the clean shutdown is lost.")
# 20-byte records, two per file: 0..3.data, compaction merges k0, k1 into
# 4.data + 4.hint and renames the active 3.data to 5.data.
hole("H-B5", "truncated-hint-unopenable", "bitcask", {"max_file_size": 40},
     [op("put", key="k{i}", value="v{i}", repeat=4), op("put", key="k{i}", value="w{i}", repeat=4),
      op("compact"), crash("process"), damage("4.hint", truncate=-3)],
     PROCESS, BASIC,
     "H-B5: a truncated hint file makes the open fail instead of falling back to scanning the data file, so the whole store is lost.",
     ["recovers"])
hole("H-B7", "empty-value-is-tombstone", "bitcask", {},
     [op("put", key="a", value="x"), op("put", key="a", value=""), step("restart")],
     PROCESS, BASIC,
     "H-B7: the empty value is the tombstone, so put(k, \"\") makes the key disappear after a restart.",
     ["acked-durable"])
hole("H-B8", "rotation-without-directory-fsync", "bitcask", {"max_file_size": 60},
     [step("sync"), op("put", key="k{i}", value="value-{i}", repeat=6)],
     POWER, BASIC,
     "H-B8: a data file created by rotation is never made durable in its directory, so a power cut loses the fsynced records in it.",
     ["acked-durable"])

# ---- B-tree ----------------------------------------------------------------
hole("H-T4", "fresh-file-not-durable", "btree", {},
     [op("put", key="k{i}", value="v{i}", repeat=3)],
     POWER, BASIC + ["structure"],
     "H-T4: creating and initialising btree.dat and btree.wal is never fsynced nor logged, so a power cut loses the files and every committed put in them.",
     ["acked-durable"])

# ---- LSM -------------------------------------------------------------------
hole("H-M2", "torn-wal-tail-swallows-puts", "lsm", {},
     [op("put", key="a", value="1"), op("put", key="b", value="2"),
      crash("process"), damage("wal.log", truncate=-1),
      op("put", key="c", value="3"), op("put", key="d", value="4")],
     PROCESS, BASIC + ["exact-values"],
     "H-M2: a torn WAL tail is never cut off, so puts appended after the restart are swallowed by the torn record's length (or come back as garbage) at the next restart.",
     ["acked-durable"])
hole("H-M3", "torn-sstable-unopenable", "lsm", {"memtable_threshold": 4},
     [op("put", key="k{i}", value="v{i}", repeat=5), crash("process"),
      damage("sst_000000.sst", truncate=8)],
     PROCESS, BASIC,
     "H-M3: an SSTable cut short (a crash during a flush or compaction) makes the store unopenable, since tables have no magic, checksum or skip on open.",
     ["acked-durable", "recovers"])
hole("H-M4", "empty-compaction-table", "lsm", {"memtable_threshold": 2},
     [op("put", key="a", value="1"), op("put", key="b", value="2"),
      op("delete", key="a"), op("delete", key="b"), op("compact"), step("restart")],
     PROCESS, BASIC + ["structure"],
     "H-M4: a compaction whose every key is deleted writes a table with an empty index, over which a range scan fails, so the store cannot be read back.",
     ["recovers"])
hole("H-M5", "close-never-fsyncs", "lsm", {},
     [op("put", key="k{i}", value="v{i}", repeat=5), step("restart")],
     POWER, BASIC,
     "H-M5: close() flushes the memtable to an SSTable but never fsyncs it, so a power cut after a clean shutdown loses every acknowledged put.",
     ["acked-durable"])
# Record a is >I klen=1, "a", >I vlen=1, "1": bit 1 of byte 8 makes vlen 3,
# so a's value swallows the start of record b and b is misframed.
hole("lsm-wal-no-crc", "length-bit-flip", "lsm", {},
     [op("put", key="a", value="1"), op("put", key="b", value="2"),
      crash("process"), damage("wal.log", flip={"offset": 8, "bit": 1})],
     PROCESS, BASIC + ["exact-values"],
     "lsm-wal-no-crc (section 7.1): the LSM WAL has no CRC, so one flipped bit in a length field is replayed as silent garbage instead of being detected.",
     ["no-corruption", "exact-values"])
# The flush writes sst_000000.sst, then truncates wal.log, with no fsync or
# directory fsync between; reorder:2 finds the states that keep the truncate
# and drop the table (or its data).
hole("lsm-wal-truncate", "before-sstable", "lsm", {"memtable_threshold": 4},
     [step("sync"), op("put", key="k{i}", value="v{i}", repeat=3), step("sync"),
      op("put", key="k3", value="v3")],
     {"kind": "power", "at": "end", "states": ["reorder:2"]}, BASIC,
     "lsm-wal-truncate (section 7.1): the flush truncates the WAL with no fsync of the new SSTable or its directory entry, so a power cut that keeps the truncate and drops the table loses the whole memtable (or leaves an empty table that makes the store unopenable).",
     ["acked-durable", "recovers"], ext4=["recovers"])

# ---- Event store -----------------------------------------------------------
hole("H-E1", "torn-line-unopenable", "eventstore", {},
     [op("append", stream="s", type="t", data={"n": 1}), op("append", stream="s", type="t", data={"n": 2}),
      crash("process"), damage("events.ndjson", truncate=-4),
      op("append", stream="s", type="t", data={"n": 3})],
     PROCESS, BASIC,
     "H-E1: a torn last line is never cut off, so the next append is glued onto it and the store no longer opens.",
     ["acked-durable", "recovers"])
# A duplicated last line (a bad copy, a double append) is read back as it
# stands: two events with id 2, and the next append gets id 4. Only the
# engine's own verify (structure) sees the ids; the values are all there.
hole("H-E2", "duplicated-line-duplicate-ids", "eventstore", {},
     [op("append", stream="s", type="t", data={"n": 1}), op("append", stream="s", type="t", data={"n": 2}),
      crash("process"), damage("events.ndjson", duplicate_line=-1),
      op("append", stream="s", type="t", data={"n": 3})],
     PROCESS, BASIC + ["structure"],
     "H-E2: event ids are read from the file unchecked while a new id is the event count + 1, so a duplicated line leaves two events with one id and the next append skips an id, which breaks a projection's position arithmetic.",
     ["structure"])

# ---- Crashes inside one engine call -----------------------------------------
# A crash trigger cuts the power (drop-all) inside the call; an injected write
# error stops the call where a crash would, and a crash step then keeps what
# it wrote (process: the page cache survives). The nth counts come from the
# engines' operation order (a put of the default B-tree logs every page image
# with one write and one fsync of btree.wal; the fixed one commits an op with
# one write and one fsync).
BT = {"max_keys_per_page": 4}
hole("H-T2", "torn-split-replayed-half", "btree", BT,
     [step("sync")] + [op("put", key=k, value="v") for k in "abcdef"],
     TRIGGER, BASIC + ["structure", "exact-values"],
     "H-T2: the page log has no commit marker and replays every CRC-valid entry, so a power cut inside a splitting put replays half the split: the sibling chain holds leaves the index does not.",
     ["structure"],
     trigger={"default": {"op": "fsync", "path": "btree.wal", "nth": 14},
              "fixed": {"op": "fsync", "path": "btree.wal", "nth": 9}})
# A saving trigger: the point inside truncate, right before the fsync of the
# rewritten 000001.wal (the 6th fsync of *.wal: the sync step makes the
# engine's open durable, then a, b, checkpoint, c and truncate's own fsync of
# the open segment), is explored with every generator. drop-all keeps the old
# file and keep-all the rewrite; a state that keeps the O_TRUNC and drops the
# rewrite loses c. The fixed profile writes 000001.wal.tmp, fsyncs it and
# renames it over the segment: its point is right after that rename, before
# the directory fsync.
hole("wal-truncate-in-place", "rewrite-before-fsync", "wal", {},
     [step("sync"), op("append", key="a", value="1"), op("append", key="b", value="2"),
      op("checkpoint"), op("append", key="c", value="3"), op("truncate", up_to=2)],
     {"kind": "power", "states": ["drop-all", "keep-all", "prefix", "reorder:2", "torn", "random:8"]},
     BASIC + ["replay-complete"],
     "wal-truncate-in-place (section 7.1): truncate reopens a segment with O_TRUNC and rewrites the records it keeps before its fsync, so a power cut inside the call that keeps the truncation but not the rewrite loses the un-checkpointed records (drop-all and keep-all both keep them: only a state inside the call shows it).",
     ["acked-durable"],
     trigger={"default": {"op": "fsync", "path": "*.wal", "nth": 6, "before": True},
              "fixed": {"op": "rename", "path": "*.wal", "nth": 1}})
hole("H-T1", "free-page-bypasses-log", "btree", BT,
     [op("put", key=k, value="v") for k in "abcde"] +
     [op("delete", key="c"), op("delete", key="d"), op("delete", key="e", expect_error=True),
      crash("process")] + [op("put", key=k, value="v") for k in "fghijk"],
     PROCESS, BASIC + ["structure", "exact-values"],
     "H-T1: free_page writes the freed leaf and the meta page straight to btree.dat, outside the page log, before the parent is logged, so a delete stopped there leaves the page both free and referenced, the next puts hand it out twice and keys are lost.",
     ["acked-durable", "structure"],
     faults={"default": [{"op": "write", "path": "btree.wal", "nth": 19}],
             "fixed": [{"op": "write", "path": "btree.wal", "nth": 8}]})
hole("H-T3", "bad-crc-entry-skipped", "btree", BT,
     [step("sync")] + [op("put", key=k, value="v") for k in "abcd"] +
     [op("put", key="e", value="v", expect_error=True), crash("power"),
      damage("btree.wal", flip={"offset": 112, "bit": 0})],
     PROCESS, BASIC + ["structure", "exact-values"],
     "H-T3: recovery skips a page-log entry whose CRC fails but replays the later ones, so a split stopped after two logged images, whose first image then rots, is applied without it and the store no longer opens.",
     ["recovers"],
     faults={"default": [{"op": "write", "path": "btree.wal", "nth": 11}],
             "fixed": [{"op": "write", "path": "btree.dat", "nth": 9}]})
hole("H-M1", "memtable-cleared-before-flush", "lsm", {"memtable_threshold": 2},
     [op("put", key="a", value="1"), op("put", key="b", value="2", expect_error=True),
      op("get", key="a")],
     PROCESS, BASIC + ["exact-values"],
     "H-M1: the flush clears the memtable before the SSTable is written, so when that write fails the running store no longer finds acknowledged puts (the WAL still has them for the next start).",
     ["exact-values"],
     faults=[{"op": "create", "path": "sst_*", "nth": 1}])
hole("H-E3", "memory-ahead-of-disk", "eventstore", {},
     [op("append", stream="s", type="t", data={"n": 1}),
      op("append", stream="s", type="t", data={"n": 2}, expect_error=True),
      op("append", stream="s", type="t", data={"n": 3}, expect_error="maybe"),
      op("read", stream="s")],
     PROCESS, BASIC + ["exact-values"],
     "H-E3: an event is appended in memory before it is written, so after a failed write the running store serves an event that is not on disk (the fixed profile refuses appends after a failed write rather than guess).",
     ["exact-values"],
     faults=[{"op": "write", "path": "events.ndjson", "nth": 2}])
hole("H-B2", "stale-hint-active-after-compaction", "bitcask", {"max_file_size": 40},
     [op("put", key="k0", value="old"), op("put", key="k1", value="old"),
      op("put", key="k0", value="old2"), op("compact", expect_error=True), crash("process"),
      op("put", key="k0", value="NEW"), op("delete", key="k1"), op("put", key="z", value="new"),
      step("restart")],
     PROCESS, BASIC + ["no-resurrection", "exact-values"],
     "H-B2: a compaction stopped after its hints are written but before the rename leaves the newest merged file, with a .hint, as the active file, so writes appended to it after the restart are lost at the next one, since the index trusts the stale hint.",
     ["acked-durable", "prefix"],
     faults=[{"op": "rename", "path": "*", "nth": 1}])
hole("H-T5", "oversized-page-truncated", "btree", {"page_size": 128},
     [op("put", key="k{i}", value="v" * 32 + "{i}", repeat=5, expect_error="maybe"), step("restart")],
     PROCESS, BASIC + ["structure", "exact-values"],
     "H-T5: a leaf whose serialization exceeds page_size is logged whole but written cut at page_size, so after a restart the leaf is corrupt and the store does not open (the fixed profile refuses the put that would overflow, which the workload allows with expect_error maybe).",
     ["recovers"])

# What the runs showed, where it differs from the default entry above:
# ext4-ordered's fsync also commits the directory entries of its journal
# transaction, which hides the missing directory fsyncs (H-B1, H-B8, H-T4,
# H-W3) in a drop-all state.
OVERRIDES = {
    "H-B1": dict(ext4=["acked-durable", "prefix"]), "H-B8": dict(ext4=[]), "H-T4": dict(ext4=[]), "H-W3": dict(ext4=[]),
    "H-B3": dict(default=["exact-values", "no-corruption"]),
    "H-E1": dict(default=["recovers"]),
    "H-M2": dict(default=["acked-durable", "no-corruption"]),
    # Fixed refuses to open a damaged table / a log with a corrupt middle
    # segment rather than serve a silent loss: recovers fails, nothing else.
    "H-M3": dict(default=["recovers"], fixed=["recovers"]),
    "H-W5": dict(fixed=["recovers"]),
    "H-E2": dict(fixed=["recovers"]),
}
DROPPED = set()
# The fixed profile refuses to open these damaged stores loudly (recovers
# fails) instead of serving a silent loss: refusing is closing the hole.
NOTES = {
    "H-W5": "The fixed profile refuses to open a log whose middle segment is corrupt (recovers fails) instead of replaying past the hole silently; refusing loudly is how it closes the hole.",
    "H-M3": "The fixed profile refuses to open a store with a damaged SSTable (recovers fails, nothing wrong is served); refusing loudly is how it closes the hole.",
    "H-E2": "The fixed profile refuses to open a file whose event ids do not count up from 1 (recovers fails, no id is served twice); refusing loudly is how it closes the hole.",
}
HOLES[:] = [h for h in HOLES if h["id"] not in DROPPED]
for h in HOLES:
    o = OVERRIDES.get(h["id"], {})
    if "default" in o:
        h["default"] = sorted(o["default"])
        h["ext4"] = sorted(o["default"])
    if "ext4" in o: h["ext4"] = sorted(o["ext4"])
    if "fixed" in o: h["fixed"] = sorted(o["fixed"])
    if h["id"] in NOTES: h["fixed_note"] = NOTES[h["id"]]


def scenario(h, profile, model):
    cfg = dict(h["config"])
    if profile == "fixed": cfg["profile"] = "fixed"
    name = h["id"] + "-" + h["slug"] + ("-ext4" if model == "ext4-ordered" else "")
    if profile == "fixed": name = "fixed-" + name
    if profile == "fixed":
        desc = ("Fixed twin of " + h["id"] + ": " + h["desc"].split(": ", 1)[-1] + " " +
                (h["fixed_note"] or "The fixed profile closes it."))
        want = h["fixed"]
    else:
        desc = h["desc"]
        want = h["ext4"] if model == "ext4-ordered" else h["default"]
    doc = {
        "$schema": "../schema.json" if profile == "default" else "../../schema.json",
        "name": name, "description": desc, "hole": h["id"],
        "engine": {"name": h["engine"], "config": cfg},
        "fs": {"model": model},
    }
    if h["promise"]: doc["promise"] = h["promise"]
    if h["faults"]: doc["faults"] = per_profile(h["faults"], profile)
    doc["workload"] = h["workload"]
    doc["crash"] = dict(h["final"])
    if h["trigger"]: doc["crash"]["at"] = {"after": per_profile(h["trigger"], profile)}
    doc["check"] = h["check"]
    doc["expect"] = {"violations": want}
    return name, doc

# Holes no scenario here exposes, and why.
NOT_YET = [
    ("H-T6", "btree", "every read, when reopened with another page_size", "not a crash hole (a configuration change); btree_test's fixed-profile page-size check covers it"),
    ("H-B6, H-T9, H-M7, H-E4, H-W9, H-X3", "all", "clock skew, locking, macOS F_FULLFSYNC", "not crash holes: the fixed profiles' unit tests (directory locks, file/offset order in compaction) or none possible on Linux (H-X3)"),
]

def hole_table():
    rows = ["# Holes of the reference engines and the scenarios that find them", "",
            "Generated by generate.py. Default profile: the violations each scenario shows under "
            "posix-strict / ext4-ordered (drop-all or process crash, as the scenario says); fixed "
            "profile: its twin's outcome.", "",
            "| hole | engine | what is lost | crash | posix-strict | ext4-ordered | fixed profile |",
            "|---|---|---|---|---|---|---|"]
    for h in HOLES:
        kind = h["final"]["kind"]
        gens = [g for g in h["final"].get("states", []) if g != "drop-all"]
        if gens: kind += " (" + ", ".join(gens) + ")"
        steps = sorted({w["kind"] for w in h["workload"]
                        if isinstance(w, dict) and w.get("step") == "crash"} - {h["final"]["kind"]})
        if steps: kind = "/".join(steps) + " crash step, then " + kind
        if h["trigger"]:
            t = per_profile(h["trigger"], "default")
            kind += " inside a call (trigger %s %s %s #%d)" % (
                "before" if t.get("before") else "after", t["op"], t["path"], t["nth"])
        if h["faults"]:
            f = per_profile(h["faults"], "default")[0]
            kind = "injected %s error on %s #%d + %s" % (f["op"], f["path"], f["nth"], kind)
        if any(isinstance(w, dict) and w.get("step") == "damage" for w in h["workload"]):
            kind += " + damage"
        v = lambda x: ", ".join(x) if x else "none"
        rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            h["id"], h["engine"], h["desc"].split(": ", 1)[-1], kind, v(h["default"]),
            v(h["ext4"]), v(h["fixed"])))
    rows += ["", "## Holes no scenario here exposes yet", "",
             "| hole | engine | what is lost | why not / what it needs |", "|---|---|---|---|"]
    for r in NOT_YET:
        rows.append("| %s | %s | %s | %s |" % r)
    emit(os.path.join(HERE, "HOLES.md"), "\n".join(rows) + "\n")
    # The same tables in the README, between its markers.
    readme = os.path.join(HERE, "..", "..", "README.md")
    text = open(readme).read()
    begin, end = "<!-- holes-begin -->\n", "<!-- holes-end -->"
    a, b = text.index(begin) + len(begin), text.index(end)
    table = [r.replace("## Holes no scenario here exposes yet", "Holes no scenario exposes:")
             for r in rows[4:]]
    emit(readme, text[:a] + "\n".join(table) + "\n" + text[b:])

# --check: compare instead of writing (a test runs it, so that the files
# and this table cannot drift apart).
CHECK = "--check" in sys.argv[1:]
STALE = []
def emit(path, text):
    if CHECK:
        try:
            same = open(path).read() == text
        except OSError:
            same = False
        if not same: STALE.append(os.path.relpath(path, os.path.join(HERE, "..", "..")))
        return
    with open(path, "w") as f:
        f.write(text)

def main():
    hole_table()
    for h in HOLES:
        for profile in ("default", "fixed"):
            for model in ("posix-strict", "ext4-ordered"):
                name, doc = scenario(h, profile, model)
                d = HERE if profile == "default" else os.path.join(HERE, "fixed")
                emit(os.path.join(d, name + ".json"), json.dumps(doc, indent=2) + "\n")
    if STALE:
        print("not as scenarios/holes/generate.py writes them (edit its table and run it):",
              file=sys.stderr)
        for p in STALE: print("  " + p, file=sys.stderr)
        sys.exit(1)

if __name__ == "__main__":
    main()
