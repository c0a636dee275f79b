// The behaviour models as data: which sync events carry what, and which
// crash states a generator may produce. crash_model.md explains each rule;
// behaviour_model.cc cites its source.
#pragma once

#include "fusefs/model/filesystem.h"

namespace blackout::model {

struct ModelRules {
  // fsync/fdatasync/fsyncdir of an inode with a pending change commits one
  // global, ordered journal: every pending entry operation, attribute,
  // xattr and truncate made so far (ext4, xfs).
  bool global_journal = false;
  // fsync of a file also makes durable the entry operations that named it
  // and its new parent directories (btrfs tree-log).
  bool fsync_logs_names = false;
  // A committed truncate carries the file's earlier data (ext4 data=ordered).
  bool data_before_truncate = false;
  // A committed rename over an existing file carries the renamed file's
  // earlier data (ext4 auto_da_alloc, btrfs flush on rename).
  bool data_before_rename_over = false;
  // A commit carries other files' new sizes without their data: the
  // exposed range reads as zeros (ext4 data=writeback; real disks show old
  // blocks, "garbage"; zeros are what the model can show honestly).
  bool commit_exposes_size = false;
  // Crash states: journaled operations persist as a prefix of themselves.
  bool journal_prefix = false;
  // Crash states: all operations persist as a prefix, writes are never torn
  // (btrfs: copy-on-write, transactions commit whole and in order).
  bool whole_prefix = false;
};

const ModelRules& RulesOf(BehaviourModel m);

}  // namespace blackout::model
