#!/usr/bin/env python3
"""A tiny record store for exec scenarios: one file per record in
$BLACKOUT_MNT/records/, printing `ack ID` once it considers a record durable.

  records.py write N --sync none|file|file+dir   write records 1..N
  records.py check                               print the IDs found; exit 1
                                                 when a record is damaged
"""
import os
import sys

MNT = os.environ["BLACKOUT_MNT"]
DIR = os.path.join(MNT, "records")


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(n, sync):
    os.makedirs(DIR, exist_ok=True)
    if sync == "file+dir":
        fsync_dir(MNT)
    for i in range(1, n + 1):
        path = os.path.join(DIR, "rec-%d" % i)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, b"record %d\n" % i)
        if sync in ("file", "file+dir"):
            os.fsync(fd)
        os.close(fd)
        if sync == "file+dir":
            fsync_dir(DIR)
        print("ack %d" % i, flush=True)


def check():
    if not os.path.isdir(DIR):
        return 0
    bad = 0
    for name in sorted(os.listdir(DIR)):
        if not name.startswith("rec-"):
            continue
        i = name[4:]
        with open(os.path.join(DIR, name), "rb") as f:
            data = f.read()
        if data == b"record %s\n" % i.encode():
            print(i)
        elif data:  # an empty file is a record that never got its data
            print("rec-%s is damaged: %r" % (i, data[:40]), file=sys.stderr)
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(int(sys.argv[2]), sys.argv[4] if len(sys.argv) > 4 else "none")
    else:
        sys.exit(check())
