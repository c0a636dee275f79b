#!/usr/bin/env python3
"""A tiny append-only log with compaction, for exec scenarios that need
crash-state exploration: each record is appended to $BLACKOUT_MNT/kv.log and
fsynced before its ack, so every acknowledged record is on the disk. Then the
log is compacted (rewritten with a header line), which acknowledges nothing
new but must not lose what is there.

  compact.py write N --compact inplace   rewrite kv.log in place (O_TRUNC,
                                         write, close; no fsync): a crash
                                         that keeps the truncate and not the
                                         write leaves an empty log
  compact.py write N --compact rename    write kv.log.tmp, fsync it, rename
                                         it over kv.log: either name holds
                                         every record, whichever survives
  compact.py check                       print the IDs found; exit 1 when a
                                         line is neither a record, the
                                         header nor a torn last line
"""
import os
import sys

MNT = os.environ["BLACKOUT_MNT"]
LOG = os.path.join(MNT, "kv.log")
HEADER = b"# compacted\n"


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(n, compact):
    fd = os.open(LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    fsync_dir(MNT)  # the log's name is durable before the first ack
    records = b""
    for i in range(1, n + 1):
        line = b"rec %d\n" % i
        os.write(fd, line)
        os.fsync(fd)
        records += line
        print("ack %d" % i, flush=True)
    os.close(fd)
    data = HEADER + records
    if compact == "inplace":
        fd = os.open(LOG, os.O_WRONLY | os.O_TRUNC)
        os.write(fd, data)
        os.close(fd)
    else:
        tmp = LOG + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, LOG)  # no fsync of the directory: nothing new is acked


def check():
    try:
        with open(LOG, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return 0
    lines = data.split(b"\n")
    torn = lines.pop()  # after the last newline: empty, or a torn last line
    bad = 0
    for line in lines:
        if line == HEADER.rstrip(b"\n"):
            continue
        if line.startswith(b"rec ") and line[4:].isdigit():
            print(int(line[4:]))
        else:
            print("kv.log: not a record: %r" % line[:40], file=sys.stderr)
            bad += 1
    if torn and not (b"rec ".startswith(torn[:4]) or HEADER.startswith(torn)):
        print("kv.log: a torn tail that no write made: %r" % torn[:40], file=sys.stderr)
        bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(int(sys.argv[2]), sys.argv[4] if len(sys.argv) > 4 else "inplace")
    else:
        sys.exit(check())
