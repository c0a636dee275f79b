#!/usr/bin/env python3
"""An append-only journal for fault scenarios: $BLACKOUT_MNT/journal.log,
one line per entry, fsynced (file, and the directory once) before the ack.

  journal.py write N --on-fsync-error retry|rewrite|stop
      retry:   call fsync again after an error (the PostgreSQL bug of 2018)
      rewrite: write the entry again from the program's own copy, then fsync
      stop:    exit 1 at the first error (nothing more acked)
  journal.py fill    append 4 KiB entries until the disk is full (ENOSPC)
  journal.py check   print the IDs of the entries found; exit 1 on a torn line
"""
import errno
import os
import sys

MNT = os.environ["BLACKOUT_MNT"]
PATH = os.path.join(MNT, "journal.log")


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(n, on_error):
    fd = os.open(PATH, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.fsync(fd)
    fsync_dir(MNT)
    for i in range(1, n + 1):
        entry = b"entry %d\n" % i
        os.write(fd, entry)
        for attempt in range(3):
            try:
                os.fsync(fd)
                break
            except OSError as e:
                print("fsync of entry %d: %s" % (i, e), file=sys.stderr)
                if on_error == "stop":
                    sys.exit(1)
                if on_error == "rewrite":
                    # The kernel may have dropped the pages: write them again.
                    os.write(fd, entry)
        else:
            sys.exit(1)
        print("ack %d" % i, flush=True)


def fill():
    fd = os.open(PATH, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    fsync_dir(MNT)
    i = 0
    while True:
        i += 1
        entry = (b"entry %d " % i).ljust(4095, b".") + b"\n"
        try:
            os.write(fd, entry)
            os.fsync(fd)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            st = os.statvfs(MNT)
            print("ENOSPC at entry %d; statfs: %d of %d blocks free" % (i, st.f_bfree, st.f_blocks),
                  file=sys.stderr)
            sys.exit(0 if st.f_bfree * st.f_frsize < 4096 else 3)
        print("ack %d" % i, flush=True)


def check():
    if not os.path.exists(PATH):
        return 0
    with open(PATH, "rb") as f:
        lines = f.read().split(b"\n")
    bad = 0
    seen = set()
    for line in lines[:-1]:
        # Zeros are bytes that never reached the disk (a hole), not damage.
        line = line.lstrip(b"\0")
        parts = line.split(b" ")
        if len(parts) >= 2 and parts[0] == b"entry" and parts[1].isdigit():
            if parts[1] not in seen:
                seen.add(parts[1])
                print(parts[1].decode())
        elif line.strip(b"\0"):
            print("torn line: %r" % line[:40], file=sys.stderr)
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "write":
        write(int(sys.argv[2]), sys.argv[4] if len(sys.argv) > 4 else "stop")
    elif cmd == "fill":
        fill()
    else:
        sys.exit(check())
