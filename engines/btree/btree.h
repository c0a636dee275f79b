// engines/btree: the page-based B-tree with a page-image write-ahead log, ported from
// `b-tree-storage-engine/btree.py` of benthomasson/ddia-implementations at 0433b6c (REF).
// ENGINES.md section 4 is the specification; FORMAT.md beside this file gives the bytes.
//
// Two profiles:
//  - default: REF call for call and byte for byte, holes included: allocate_page and
//    free_page write the meta page (and the freed page) straight to btree.dat with no WAL
//    entry (H-T1), the WAL has no commit marker and recovery skips a bad-CRC entry and keeps
//    going (H-T2, H-T3), initialisation is neither fsynced nor logged (H-T4), a page larger
//    than page_size is logged whole but cut in the data file (H-T5), the page size is not
//    stored (H-T6), freed pages look like empty internal nodes (H-T7). Where REF raises an
//    exception nobody catches (struct.error, UnicodeDecodeError, RecursionError), the port
//    returns a Corruption Status.
//  - fixed: every page image of one operation, the free-list changes included, is buffered,
//    then logged in one WAL write followed by a commit entry and one fsync, then applied;
//    recovery applies only committed entries and stops at the first bad CRC; the page size
//    is stored in the meta page and checked on open; the fresh file is written to a temp
//    file, fsynced, renamed and the directory fsynced; a page that would outgrow page_size
//    rejects the operation before anything is written; freed pages carry their own type;
//    scans have a cycle guard; the directory is locked (DIR/LOCK) against a second process.
//
// Thread-safety: none. One BTree per directory; REF has no locking (H-T9), the fixed profile
// refuses a second process with a Busy status.
#ifndef BLACKOUT_ENGINES_BTREE_BTREE_H_
#define BLACKOUT_ENGINES_BTREE_BTREE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engines/common/env.h"
#include "engines/common/status.h"

namespace blackout::engines {

struct BTreeOptions {
  // REF's constructor arguments. The page size is not stored by the default profile: a store
  // reopened with another size reads garbage (H-T6).
  uint32_t page_size = 4096;
  // Split threshold; when absent REF uses max(4, (page_size - 7) / 100), i.e. 40 for 4096.
  std::optional<uint32_t> max_keys_per_page;
  bool fixed = false;  // profile "fixed"
};

using KeyValue = std::pair<std::string, std::string>;

// The engine. Keys are UTF-8 text compared bytewise (= code point order, as in Python);
// values are raw bytes.
class BTree {
 public:
  // Opens or creates DIR/btree.dat and DIR/btree.wal and replays the WAL (every open).
  // REQUIRES: page_size >= 32; max_keys_per_page >= 1 when set.
  // Durability: default: a fresh store's first two pages are handed to the kernel, never
  // fsynced, and no directory is fsynced (H-T4); a replayed WAL is made durable (data fsync,
  // WAL truncate, WAL fsync). fixed: a fresh store is durable, directory entries included.
  // Errors: Corruption when btree.dat is unreadable as a B-tree; InvalidArgument when the
  // fixed profile finds another page size recorded; Busy when another process holds it (fixed).
  [[nodiscard]] static Result<std::unique_ptr<BTree>> Open(Env* env, const std::string& dir,
                                                           const BTreeOptions& options);

  ~BTree();  // does not commit or flush anything: a destroyed tree is a crashed process
  BTree(const BTree&) = delete;
  BTree& operator=(const BTree&) = delete;

  // Inserts or replaces. InvalidArgument (nothing written) when 3+4+2+len(key)+2+len(value)
  // exceeds page_size; the fixed profile also rejects, before writing anything, a put whose
  // pages would outgrow page_size (the default profile writes them and loses bytes, H-T5).
  // Durability: when it returns OK the put survives process crash and power loss (commit
  // fsyncs btree.dat before clearing the WAL). A crash inside a default-profile put can leave
  // half of it replayed (H-T2) or the tree corrupted (the allocation path only leaks a page).
  [[nodiscard]] Status Put(std::string_view key, std::string_view value);

  // The value, or nullopt. Durability: reads only.
  [[nodiscard]] Result<std::optional<std::string>> Get(std::string_view key);

  // Removes the key; false when absent (then nothing is written). Durability: as Put; in the
  // default profile a crash between free_page and the parent's WAL entry corrupts the tree:
  // the same page ends up referenced twice (H-T1).
  [[nodiscard]] Result<bool> Delete(std::string_view key);

  // Pairs with start <= key < end (end absent: to the last key), following the leaf chain
  // from the leaf that would hold start, as REF's range_scan. A cycle in the chain is a
  // Corruption (REF would loop forever). Durability: reads only.
  [[nodiscard]] Result<std::vector<KeyValue>> RangeScan(std::string_view start,
                                                        std::optional<std::string_view> end);

  // Every pair in leaf-chain order from the leftmost leaf (REF's __iter__), with the same
  // cycle guard. Durability: reads only.
  [[nodiscard]] Result<std::vector<KeyValue>> Items();

  // total_keys from the meta page (REF's __len__). Durability: reads only.
  [[nodiscard]] Result<uint32_t> Size();

  // Structural self-check; each problem is one sentence: a page reachable twice, a free page
  // reachable from the root, a leaf chain that differs from the index's leaf order or is not
  // sorted, total_keys that differs from the keys in the leaves. Durability: reads only.
  [[nodiscard]] Result<std::vector<std::string>> Verify();

  // Commits (data fsync, WAL truncate, WAL fsync), closes the WAL, then fsyncs and closes
  // btree.dat, as REF. Durability: everything survives power loss. Later calls fail.
  [[nodiscard]] Status Close();

  uint32_t page_size() const;
  uint32_t max_keys() const;
  bool fixed() const;

 private:
  class Impl;
  explicit BTree(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace blackout::engines

#endif  // BLACKOUT_ENGINES_BTREE_BTREE_H_
