#!/usr/bin/env python3
"""SQLite (Debian's libsqlite3 through Python's sqlite3 module) as an exec
workload: one INSERT per transaction, acknowledged when COMMIT returns.

  sqlite_kv.py write N JOURNAL_MODE SYNCHRONOUS
      The program is still running when the power goes: it leaves without
      closing the database (a close would checkpoint the WAL and hide what
      the commit itself promised).
  sqlite_kv.py check
      prints the IDs in the table; exits 1 when integrity_check fails.
"""
import os
import sqlite3
import sys

DB = os.path.join(os.environ["BLACKOUT_MNT"], "kv.db")


def write(n, journal_mode, synchronous):
    db = sqlite3.connect(DB, isolation_level=None)
    db.execute("PRAGMA journal_mode=%s" % journal_mode)
    db.execute("PRAGMA synchronous=%s" % synchronous)
    db.execute("CREATE TABLE IF NOT EXISTS kv (id INTEGER PRIMARY KEY, v TEXT)")
    for i in range(1, n + 1):
        db.execute("BEGIN")
        db.execute("INSERT INTO kv VALUES (?, ?)", (i, "value %d" % i))
        db.execute("COMMIT")
        print("ack %d" % i, flush=True)
    os._exit(0)


def check():
    if not os.path.exists(DB):
        return 0
    db = sqlite3.connect(DB)
    ok = db.execute("PRAGMA integrity_check").fetchone()[0]
    if ok != "ok":
        print("integrity_check: %s" % ok, file=sys.stderr)
        return 1
    try:
        rows = db.execute("SELECT id FROM kv ORDER BY id").fetchall()
    except sqlite3.OperationalError:  # the table's creation did not survive
        rows = []
    for (i,) in rows:
        print(i)
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        sys.exit(check())
