#include "fusefs/model/pending_op.h"

#include <linux/falloc.h>
#include <linux/fs.h>

#include <algorithm>

namespace blackout::model {

std::string_view OpName(OpKind kind) {
  switch (kind) {
    case OpKind::kCreate:
      return "create";
    case OpKind::kMkdir:
      return "mkdir";
    case OpKind::kSymlink:
      return "symlink";
    case OpKind::kLink:
      return "link";
    case OpKind::kUnlink:
      return "unlink";
    case OpKind::kRmdir:
      return "rmdir";
    case OpKind::kRename:
      return "rename";
    case OpKind::kWrite:
      return "write";
    case OpKind::kTruncate:
      return "truncate";
    case OpKind::kFallocate:
      return "fallocate";
    case OpKind::kSetAttr:
      return "setattr";
    case OpKind::kSetXattr:
      return "setxattr";
    case OpKind::kRemoveXattr:
      return "removexattr";
  }
  return "?";
}

bool IsEntryOp(OpKind kind) { return kind <= OpKind::kRename; }

bool IsDataOp(OpKind kind) {
  return kind == OpKind::kWrite || kind == OpKind::kTruncate || kind == OpKind::kFallocate;
}

namespace {

void Touch(Node* n, const timespec& t) {
  n->attr.mtime = t;
  n->attr.ctime = t;
}

// Removes entry `name` from `dir` when it names `ino` (0: whatever it names),
// dropping the link it held.
void DropEntry(Tree& tree, Node* dir, const std::string& name, Ino ino, const timespec& t) {
  auto it = dir->entries.find(name);
  if (it == dir->entries.end() || (ino != 0 && it->second != ino)) return;
  Ino child = it->second;
  dir->entries.erase(it);
  Node* c = tree.Mutable(child);
  if (c == nullptr) return;
  if (c->IsDir()) {
    c->attr.nlink = 0;
    if (dir->attr.nlink > 0) --dir->attr.nlink;
  } else if (c->attr.nlink > 0) {
    --c->attr.nlink;
  }
  c->attr.ctime = t;
}

// Puts entry `name` -> `ino` into `dir`, replacing whatever it named.
void AddEntry(Tree& tree, Node* dir, const std::string& name, Ino ino,
              const std::unordered_map<Ino, Born>& born, const timespec& t) {
  DropEntry(tree, dir, name, 0, t);
  dir->entries[name] = ino;
  Node* c = tree.Ensure(ino, born);
  if (c->IsDir()) {
    c->attr.nlink = 2;
    ++dir->attr.nlink;
  } else {
    ++c->attr.nlink;
  }
  c->attr.ctime = t;
}

}  // namespace

void ApplyOp(Tree& tree, const PendingOp& op, const std::unordered_map<Ino, Born>& born,
             const std::unordered_map<uint64_t, Seq>* last_whole_write) {
  const timespec& t = op.time;
  switch (op.kind) {
    case OpKind::kCreate:
    case OpKind::kMkdir:
    case OpKind::kSymlink:
    case OpKind::kLink: {
      Node* dir = tree.Ensure(op.parent, born);
      AddEntry(tree, dir, op.name, op.ino, born, t);
      Touch(dir, t);
      return;
    }
    case OpKind::kUnlink:
    case OpKind::kRmdir: {
      Node* dir = tree.Ensure(op.parent, born);
      DropEntry(tree, dir, op.name, op.ino, t);
      Touch(dir, t);
      return;
    }
    case OpKind::kRename: {
      Node* from = tree.Ensure(op.parent, born);
      Touch(from, t);
      if (op.flags & RENAME_EXCHANGE) {
        // Both entries keep their link counts; only directories' ".." move.
        Node* to = tree.Ensure(op.new_parent, born);
        Touch(to, t);
        from = tree.Mutable(op.parent);
        from->entries[op.name] = op.replaced;
        to->entries[op.new_name] = op.ino;
        if (op.parent != op.new_parent) {
          Node* a = tree.Ensure(op.ino, born);
          Node* b = tree.Ensure(op.replaced, born);
          int delta = (a->IsDir() ? 1 : 0) - (b->IsDir() ? 1 : 0);
          tree.Mutable(op.parent)->attr.nlink -= delta;
          tree.Mutable(op.new_parent)->attr.nlink += delta;
        }
        return;
      }
      // The moved inode keeps its link count (and a directory its
      // subdirectory count); only the parents' counts move with a directory.
      bool had_source = false;
      if (auto it = from->entries.find(op.name);
          it != from->entries.end() && it->second == op.ino) {
        from->entries.erase(it);
        had_source = true;
      }
      Node* child = tree.Ensure(op.ino, born);
      bool is_dir = child->IsDir();
      if (is_dir && had_source) --tree.Mutable(op.parent)->attr.nlink;
      Node* to = tree.Ensure(op.new_parent, born);
      Touch(to, t);
      DropEntry(tree, to, op.new_name, 0, t);
      to = tree.Mutable(op.new_parent);
      to->entries[op.new_name] = op.ino;
      child = tree.Mutable(op.ino);
      if (is_dir) {
        ++to->attr.nlink;
        if (!had_source) child->attr.nlink = 2;
      } else if (!had_source) {
        ++child->attr.nlink;
      }
      child->attr.ctime = t;
      return;
    }
    case OpKind::kWrite: {
      Node* n = tree.Ensure(op.ino, born);
      if (last_whole_write != nullptr && op.data.spilled_pages() > 0) {
        tree.page_count += op.data.ApplyTo(n->pages, [&](uint64_t idx) {
          auto it = last_whole_write->find(idx);
          return it != last_whole_write->end() && it->second > op.seq;
        });
      } else {
        tree.page_count += op.data.ApplyTo(n->pages);
      }
      n->attr.size = std::max(n->attr.size, op.offset + op.data.size());
      Touch(n, t);
      return;
    }
    case OpKind::kTruncate: {
      Node* n = tree.Ensure(op.ino, born);
      if (op.offset < n->attr.size) tree.page_count += TruncatePages(n->pages, op.offset);
      n->attr.size = op.offset;
      Touch(n, t);
      return;
    }
    case OpKind::kFallocate: {
      Node* n = tree.Ensure(op.ino, born);
      uint64_t end = op.offset + op.length;
      if (op.flags & FALLOC_FL_PUNCH_HOLE) {
        tree.page_count += ZeroRange(n->pages, op.offset, std::min(end, n->attr.size));
      } else {
        for (uint64_t idx = PageIndex(op.offset); idx < PagesFor(end); ++idx) {
          if (n->pages.emplace(idx, ZeroPage()).second) ++tree.page_count;
        }
        if (!(op.flags & FALLOC_FL_KEEP_SIZE)) n->attr.size = std::max(n->attr.size, end);
      }
      n->attr.ctime = t;
      if (!(op.flags & FALLOC_FL_KEEP_SIZE)) n->attr.mtime = t;
      return;
    }
    case OpKind::kSetAttr: {
      Node* n = tree.Ensure(op.ino, born);
      if (op.mode) n->attr.mode = (n->attr.mode & S_IFMT) | (*op.mode & 07777);
      if (op.uid) n->attr.uid = *op.uid;
      if (op.gid) n->attr.gid = *op.gid;
      if (op.atime) n->attr.atime = *op.atime;
      if (op.mtime) n->attr.mtime = *op.mtime;
      n->attr.ctime = t;
      return;
    }
    case OpKind::kSetXattr: {
      Node* n = tree.Ensure(op.ino, born);
      n->xattrs[op.name] = op.value;
      n->attr.ctime = t;
      return;
    }
    case OpKind::kRemoveXattr: {
      Node* n = tree.Ensure(op.ino, born);
      n->xattrs.erase(op.name);
      n->attr.ctime = t;
      return;
    }
  }
}

}  // namespace blackout::model
