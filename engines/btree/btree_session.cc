// `blackout engine btree`: the driver adapter (engines/driver/session.h) over BTree.
// Values travel as JSON strings: their UTF-8 bytes are the stored bytes.
#include <memory>

#include "engines/btree/btree.h"
#include "engines/driver/request.h"
#include "engines/driver/sessions.h"

namespace blackout::engines {
namespace {

// Stored values are raw bytes and a cut page (H-T5) can split a character; JSON needs UTF-8,
// so an invalid byte comes out as U+FFFD, as Python's bytes.decode(errors="replace") would.
std::string ToJsonText(const std::string& bytes) {
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<uint8_t>(bytes[i]);
    size_t n = c < 0x80             ? 0
               : (c & 0xE0) == 0xC0 ? 1
               : (c & 0xF0) == 0xE0 ? 2
               : (c & 0xF8) == 0xF0 ? 3
                                    : 9;
    bool ok = n != 9 && i + n < bytes.size();
    uint32_t cp = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
    for (size_t j = 1; ok && j <= n; ++j) {
      const auto cc = static_cast<uint8_t>(bytes[i + j]);
      ok = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    ok = ok && !((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
                 cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF));
    if (ok) {
      out.append(bytes, i, n + 1);
      i += n + 1;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

class BtreeSession final : public EngineSession {
 public:
  explicit BtreeSession(std::unique_ptr<BTree> tree) : tree_(std::move(tree)) {}

  nlohmann::json Handle(const std::string& op, const nlohmann::json& req) override {
    using request::ErrorReply;
    if (op == "put") {
      auto key = request::String(req, "key");
      if (!key.ok()) return ErrorReply(key.status());
      auto value = request::String(req, "value");
      if (!value.ok()) return ErrorReply(value.status());
      Status s = tree_->Put(*key, *value);
      return s.ok() ? request::OkReply() : ErrorReply(s);
    }
    if (op == "get") {
      auto key = request::String(req, "key");
      if (!key.ok()) return ErrorReply(key.status());
      auto got = tree_->Get(*key);
      if (!got.ok()) return ErrorReply(got.status());
      nlohmann::json reply = {{"ok", true}, {"found", got->has_value()}};
      if (got->has_value()) reply["value"] = ToJsonText(**got);
      return reply;
    }
    if (op == "delete") {
      auto key = request::String(req, "key");
      if (!key.ok()) return ErrorReply(key.status());
      auto found = tree_->Delete(*key);
      if (!found.ok()) return ErrorReply(found.status());
      return {{"ok", true}, {"found", *found}};
    }
    if (op == "scan") {
      auto range = request::ScanRange(req);
      if (!range.ok()) return ErrorReply(range.status());
      auto items = tree_->RangeScan(range->start, range->EndView());
      if (!items.ok()) return ErrorReply(items.status());
      nlohmann::json list = nlohmann::json::array();
      for (const auto& [k, v] : *items) list.push_back({ToJsonText(k), ToJsonText(v)});
      return {{"ok", true}, {"items", list}};
    }
    if (op == "verify") {
      auto problems = tree_->Verify();
      if (!problems.ok()) return ErrorReply(problems.status());
      nlohmann::json list = nlohmann::json::array();
      for (const auto& p : *problems) list.push_back(ToJsonText(p));
      return {{"ok", true}, {"problems", list}};
    }
    return request::UnknownOp(op, "btree",
                              {"put", "get", "delete", "scan", "verify", "close", "contract"});
  }

  nlohmann::json Dump() override {
    // REF's __iter__: the leaf chain from the leftmost leaf, what a user iterating the tree sees.
    auto items = tree_->Items();
    if (!items.ok()) return request::ErrorReply(items.status());
    nlohmann::json data = nlohmann::json::object();
    for (const auto& [k, v] : *items) data[ToJsonText(k)] = ToJsonText(v);
    return {{"ok", true}, {"engine", "btree"}, {"kind", "kv"}, {"data", data}};
  }

  // Both profiles promise that an acknowledged put or delete survives both kinds of crash:
  // commit fsyncs btree.dat before it clears the WAL. The default profile breaks the promise
  // through its holes (H-T1, H-T2, H-T4), which is what the harness is there to show.
  nlohmann::json Contract() override { return {{"process", "acked"}, {"power", "acked"}}; }

  Status Close() override { return tree_->Close(); }

 private:
  std::unique_ptr<BTree> tree_;
};

}  // namespace

Result<std::unique_ptr<EngineSession>> OpenBtreeSession(Env* env, const std::string& dir,
                                                        const nlohmann::json& config) {
  BLACKOUT_RETURN_IF_ERROR(
      request::OnlyKeys(config, "btree", {"page_size", "max_keys_per_page", "profile"}));
  BTreeOptions options;
  BLACKOUT_ASSIGN_OR_RETURN(options.fixed, request::FixedProfile(config));
  BLACKOUT_ASSIGN_OR_RETURN(const int64_t page_size, request::IntOr(config, "page_size", 4096));
  if (page_size < 32 || page_size > (int64_t{1} << 30)) {
    return Status::InvalidArgument("config key 'page_size' must be in 32..2^30, got " +
                                   std::to_string(page_size));
  }
  options.page_size = static_cast<uint32_t>(page_size);
  if (config.contains("max_keys_per_page") && !config["max_keys_per_page"].is_null()) {
    BLACKOUT_ASSIGN_OR_RETURN(const int64_t max_keys, request::Int(config, "max_keys_per_page"));
    if (max_keys < 1 || max_keys > 0xFFFF) {
      return Status::InvalidArgument("config key 'max_keys_per_page' must be in 1..65535, got " +
                                     std::to_string(max_keys));
    }
    options.max_keys_per_page = static_cast<uint32_t>(max_keys);
  }
  BLACKOUT_ASSIGN_OR_RETURN(auto tree, BTree::Open(env, dir, options));
  return std::unique_ptr<EngineSession>(std::make_unique<BtreeSession>(std::move(tree)));
}

}  // namespace blackout::engines
