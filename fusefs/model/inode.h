// One view of the inode tree (the volatile view or the durable view).
//
// A Node is one inode's state in one view. Views share Nodes copy-on-write:
// a Node reached through more than one NodeRef (e.g. both views right after a
// power cut, or a Materialize snapshot) is cloned before it is changed, and a
// clone copies page pointers, never page contents. So taking a view costs one
// pointer per inode and writing to a shared file costs one pointer per page.
//
// Invariants of the volatile view (kept by Filesystem):
//   * every directory entry names a Node of the same view;
//   * nlink counts the entries naming a Node (+2 and +1 per subdirectory for
//     a directory), exactly as Linux reports it;
//   * Tree::page_count is the number of pages in all Nodes (for statfs).
// The durable view may break the first two between power cuts (its entries
// arrive through separate sync events); a crash state repairs them the way
// fsck and orphan cleanup do (RepairTree in crash_state.cc).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "fusefs/model/filesystem.h"
#include "fusefs/model/page_store.h"

namespace blackout::model {

struct Node {
  Attr attr;  // attr.blocks is derived from pages when reported
  PageMap pages;
  std::string target;                               // symlinks
  std::map<std::string, Ino, std::less<>> entries;  // directories, without "." and ".."
  std::map<std::string, std::string, std::less<>> xattrs;

  bool IsDir() const { return S_ISDIR(attr.mode); }
  bool IsReg() const { return S_ISREG(attr.mode); }
  Attr Report() const;  // attr with blocks filled in
};
using NodeRef = std::shared_ptr<Node>;

// What an inode looked like when it was created: the content a view gives an
// inode that it has never seen before (the durable view when a sync event
// reaches an inode whose creation is not durable yet).
struct Born {
  Attr attr;
  std::string target;
};

struct Tree {
  std::unordered_map<Ino, NodeRef> nodes;
  uint64_t page_count = 0;

  const Node* Find(Ino ino) const {
    auto it = nodes.find(ino);
    return it == nodes.end() ? nullptr : it->second.get();
  }
  // The Node, cloned first when shared with another view; null when absent.
  Node* Mutable(Ino ino);
  // The Node; when absent, a fresh one made from `born` (nlink 0).
  Node* Ensure(Ino ino, const std::unordered_map<Ino, Born>& born);
};

timespec Now();

}  // namespace blackout::model
