#include "fusefs/model/inode.h"

#include <ctime>

namespace blackout::model {

Attr Node::Report() const {
  Attr a = attr;
  a.blocks = pages.size() * (kPageSize / 512);
  return a;
}

Node* Tree::Mutable(Ino ino) {
  auto it = nodes.find(ino);
  if (it == nodes.end()) return nullptr;
  // use_count is exact here: every NodeRef copy is made under the Filesystem
  // mutex, so a count of 1 means no other view can observe the change.
  if (it->second.use_count() > 1) it->second = std::make_shared<Node>(*it->second);
  return it->second.get();
}

Node* Tree::Ensure(Ino ino, const std::unordered_map<Ino, Born>& born) {
  if (Node* n = Mutable(ino)) return n;
  auto node = std::make_shared<Node>();
  auto b = born.find(ino);
  if (b != born.end()) {
    node->attr = b->second.attr;
    node->target = b->second.target;
  } else {
    node->attr.ino = ino;
    node->attr.mode = S_IFREG | 0644;
  }
  node->attr.nlink = 0;
  if (!S_ISLNK(node->attr.mode)) node->attr.size = 0;
  Node* raw = node.get();
  nodes.emplace(ino, std::move(node));
  return raw;
}

timespec Now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

}  // namespace blackout::model
