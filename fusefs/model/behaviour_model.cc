#include "fusefs/model/behaviour_model.h"

#include <cerrno>

namespace blackout::model {

namespace {

ModelRules PosixStrict() { return {}; }  // nothing but a sync's own object

// ext4, data=ordered (the default). Linux Documentation/admin-guide/ext4.rst
// ("data=ordered", "auto_da_alloc") and filesystems/ext4/journal.rst;
// ALICE (Pillai et al., OSDI '14) Table 1, column ext4-ordered.
ModelRules Ext4Ordered() {
  ModelRules r;
  r.global_journal = true;           // ext4_sync_file -> jbd2 commit of i_sync_tid
  r.data_before_truncate = true;     // data=ordered: data before its metadata
  r.data_before_rename_over = true;  // auto_da_alloc, ext4_rename -> ext4_alloc_da_blocks
  r.journal_prefix = true;           // ALICE: directory operations ordered
  return r;
}

// ext4, data=writeback. ext4.rst ("data=writeback": "data may be written into
// the main file system after its metadata has been committed ... can allow
// old data to appear in files after a crash"); ALICE Table 1, ext4-writeback.
ModelRules Ext4Writeback() {
  ModelRules r;
  r.global_journal = true;
  r.commit_exposes_size = true;
  r.journal_prefix = true;
  return r;
}

// btrfs. fsync writes the inode and its new names to the log tree
// (fs/btrfs/tree-log.c, btrfs_log_dentry_safe, log_new_dentries), not a
// global commit; btrfs_rename flushes the source when it replaces a file
// (fs/btrfs/inode.c, filemap_flush on rename over); without fsync,
// transactions commit whole and in order, data and metadata together
// (copy-on-write). ALICE Table 1, column btrfs.
ModelRules Btrfs() {
  ModelRules r;
  r.fsync_logs_names = true;
  r.data_before_rename_over = true;
  r.whole_prefix = true;
  return r;
}

// XFS. fsync forces the log up to the inode's last change (xfs_file_fsync ->
// xfs_log_force_seq), which carries every earlier metadata transaction; the
// on-disk size moves only when data I/O completes (xfs_setfilesize), so
// new data is never exposed as stale blocks. ALICE Table 1, column xfs.
ModelRules Xfs() {
  ModelRules r;
  r.global_journal = true;
  r.journal_prefix = true;
  return r;
}

}  // namespace

const ModelRules& RulesOf(BehaviourModel m) {
  static const ModelRules posix = PosixStrict(), ordered = Ext4Ordered(),
                          writeback = Ext4Writeback(), btrfs = Btrfs(), xfs = Xfs();
  switch (m) {
    case BehaviourModel::kPosixStrict:
      return posix;
    case BehaviourModel::kExt4Ordered:
      return ordered;
    case BehaviourModel::kExt4Writeback:
      return writeback;
    case BehaviourModel::kBtrfs:
      return btrfs;
    case BehaviourModel::kXfs:
      return xfs;
  }
  return posix;
}

Result<BehaviourModel> ParseBehaviourModel(std::string_view name) {
  if (name == "posix-strict") return BehaviourModel::kPosixStrict;
  if (name == "ext4-ordered") return BehaviourModel::kExt4Ordered;
  if (name == "ext4-writeback") return BehaviourModel::kExt4Writeback;
  if (name == "btrfs") return BehaviourModel::kBtrfs;
  if (name == "xfs") return BehaviourModel::kXfs;
  return Errno{EINVAL};
}

const char* BehaviourModelNames() {
  return "posix-strict, ext4-ordered, ext4-writeback, btrfs, xfs";
}

std::string_view Name(BehaviourModel m) {
  switch (m) {
    case BehaviourModel::kPosixStrict:
      return "posix-strict";
    case BehaviourModel::kExt4Ordered:
      return "ext4-ordered";
    case BehaviourModel::kExt4Writeback:
      return "ext4-writeback";
    case BehaviourModel::kBtrfs:
      return "btrfs";
    case BehaviourModel::kXfs:
      return "xfs";
  }
  return "unknown";
}

}  // namespace blackout::model
