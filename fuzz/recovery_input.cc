#include "fuzz/recovery_input.h"

#include <cstdlib>

#include "engines/common/mem_env.h"
#include "engines/driver/sessions.h"

namespace blackout::fuzz {
namespace {

using nlohmann::json;

json Profile(uint8_t flags) { return json{{"profile", (flags & 1) ? "fixed" : "default"}}; }

const std::vector<EngineSpec>& Specs() {
  static const std::vector<EngineSpec> specs = {
      {"wal",
       {"000001.wal", "000002.wal", "000003.wal", "000001.wal.tmp", "000002.wal.tmp"},
       engines::OpenWalSession,
       [](uint8_t f) {
         json c = Profile(f);
         if (f & 2) c["max_file_size"] = 128;
         return c;
       },
       json{{"op", "append"}, {"key", "k"}, {"value", "v"}}},
      {"bitcask",
       {"0.data", "1.data", "2.data", "0.hint", "1.hint", "2.hint", "3.data.tmp", "1.hint.tmp"},
       engines::OpenBitcaskSession,
       [](uint8_t f) {
         json c = Profile(f);
         if (f & 2) c["max_file_size"] = 128;
         return c;
       },
       json{{"op", "put"}, {"key", "k"}, {"value", "v"}}},
      {"btree",
       {"btree.dat", "btree.wal"},
       engines::OpenBtreeSession,
       [](uint8_t f) {
         json c = Profile(f);
         if (f & 2) c["page_size"] = 256;
         return c;
       },
       json{{"op", "put"}, {"key", "k"}, {"value", "v"}}},
      {"lsm",
       {"wal.log", "sst_000000.sst", "sst_000001.sst", "sst_000002.sst", "sst_000003.sst.tmp"},
       engines::OpenLsmSession,
       [](uint8_t f) {
         json c = Profile(f);
         if (f & 2) c["sparse_index_interval"] = 2;
         return c;
       },
       json{{"op", "put"}, {"key", "k"}, {"value", "v"}}},
      {"eventstore",
       {"events.ndjson"},
       engines::OpenEventstoreSession,
       Profile,
       json{{"op", "append"}, {"stream", "s"}, {"type", "T"}, {"data", json::object()}}},
  };
  return specs;
}

void CheckReply(const json& reply) {
  if (!reply.is_object() || !reply.contains("ok") || !reply["ok"].is_boolean()) std::abort();
}

}  // namespace

const EngineSpec& FindSpec(std::string_view name) {
  for (const EngineSpec& s : Specs()) {
    if (name == s.name) return s;
  }
  std::abort();
}

StoreImage DecodeStore(const EngineSpec& spec, std::string_view bytes) {
  StoreImage image;
  if (bytes.empty()) return image;
  image.flags = static_cast<uint8_t>(bytes[0]);
  size_t pos = 1;
  while (pos < bytes.size()) {
    const size_t index = static_cast<uint8_t>(bytes[pos]) % spec.files.size();
    size_t len = 0;
    if (pos + 1 < bytes.size()) len = static_cast<uint8_t>(bytes[pos + 1]);
    if (pos + 2 < bytes.size()) len |= static_cast<size_t>(static_cast<uint8_t>(bytes[pos + 2])) << 8;
    pos = std::min(bytes.size(), pos + 3);
    const std::string_view content = bytes.substr(pos, len);
    image.files[spec.files[index]] = std::string(content);
    pos += content.size();
  }
  return image;
}

std::string EncodeStore(const EngineSpec& spec, const StoreImage& image) {
  std::string out(1, static_cast<char>(image.flags));
  for (size_t i = 0; i < spec.files.size(); ++i) {
    auto it = image.files.find(spec.files[i]);
    if (it == image.files.end()) continue;
    // Longer files are cut: the fuzzer's inputs stay small and fast.
    const std::string content = it->second.substr(0, 0xffff);
    out.push_back(static_cast<char>(i));
    out.push_back(static_cast<char>(content.size() & 0xff));
    out.push_back(static_cast<char>(content.size() >> 8));
    out += content;
  }
  return out;
}

void RunRecovery(const EngineSpec& spec, std::string_view bytes) {
  const StoreImage image = DecodeStore(spec, bytes);
  const std::string dir = "/mem/store";
  engines::MemEnv env(dir);
  for (const auto& [name, content] : image.files) {
    env.WriteFileForTest(engines::JoinPath(dir, name), content);
  }
  auto session = spec.open(&env, dir, spec.config(image.flags));
  if (!session.ok()) {
    // Refusing to open is fine (REF fails on a torn record); an error must
    // still say something.
    if (session.status().ToString().empty()) std::abort();
    return;
  }
  CheckReply((*session)->Dump());
  CheckReply((*session)->Handle(spec.write["op"], spec.write));
  CheckReply((*session)->Dump());
  (void)(*session)->Close();
}

}  // namespace blackout::fuzz
