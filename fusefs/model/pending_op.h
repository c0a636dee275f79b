// PendingOp: one mutating operation that the volatile view has and the
// durable view may not have yet (crash_model.md, "Pending operations").
//
// The volatile view is, at every moment, the durable view with every pending
// operation applied in sequence order by ApplyOp; a sync event applies some of
// them to the durable view with the same function and drops them from the
// pending list. A crash state is the durable view plus an ordered subset of
// the pending operations, again applied by ApplyOp. A PendingOp therefore
// carries everything it needs (the bytes written, initial attributes, times):
// it never looks at the volatile view, and a list of them can be saved and
// replayed elsewhere.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fusefs/model/inode.h"
#include "fusefs/model/page_store.h"

namespace blackout::model {

enum class OpKind : uint8_t {
  // Entry operations: they belong to a directory (two for a rename).
  kCreate,  // create, mknod (ino = the new inode)
  kMkdir,
  kSymlink,
  kLink,    // ino gains entry parent/name
  kUnlink,  // entry parent/name of ino goes away
  kRmdir,
  kRename,  // parent/name -> new_parent/new_name; replaced = inode it overwrote
  // Inode operations: they belong to inode `ino`.
  kWrite,      // data written at offset (length = data.size())
  kTruncate,   // offset = new size
  kFallocate,  // flags = fallocate mode; offset/length = range
  kSetAttr,    // mode/uid/gid/atime/mtime, whichever is set
  kSetXattr,   // name = xattr name, value = value
  kRemoveXattr,
};

std::string_view OpName(OpKind kind);
bool IsEntryOp(OpKind kind);
// Data operations change a file's bytes or size.
bool IsDataOp(OpKind kind);

struct PendingOp {
  Seq seq = 0;
  OpKind kind = OpKind::kWrite;
  Ino ino = 0;
  timespec time{};  // mtime/ctime the operation sets
  Ino parent = 0;
  std::string name;
  Ino new_parent = 0;
  std::string new_name;
  Ino replaced = 0;    // kRename: the inode that new_name named before, or 0
  uint32_t flags = 0;  // rename flags, fallocate mode
  uint64_t offset = 0;
  uint64_t length = 0;
  WriteData data;                          // kWrite: the bytes written (offset = offset)
  std::optional<uint32_t> mode, uid, gid;  // kSetAttr
  std::optional<timespec> atime, mtime;    // kSetAttr
  std::string value;                       // kSetXattr; kSymlink target

  // Bytes this operation would write (pending_bytes of `unsynced`).
  uint64_t DataBytes() const { return kind == OpKind::kWrite ? length : 0; }
};

// Applies `op` to `tree`. `born` gives the initial state of inodes the tree
// has never seen. Never fails: on the durable view an operation may find its
// source already gone (the entry it removes was never durable), and then does
// what is left of it, as a journal replay would.
//
// `last_whole_write`, when given, maps page indexes of `op.ino` to the seq of
// the last pending write that covers the page whole and that the caller
// applies in the same go: a spilled page of `op` that such a later write
// replaces is not read back from the spill file (its bytes cannot show in
// the result, whatever runs in between).
void ApplyOp(Tree& tree, const PendingOp& op, const std::unordered_map<Ino, Born>& born,
             const std::unordered_map<uint64_t, Seq>* last_whole_write = nullptr);

}  // namespace blackout::model
