// Writes the seed corpus of the recovery fuzz targets: for each engine and
// profile, a few small stores written by the engine itself on a MemEnv
// (closed cleanly, crashed with a process crash, and after a power cut),
// encoded in the format of recovery_input.h.
//   make_recovery_corpus OUT_DIR   -> OUT_DIR/recovery_<engine>/seed-*
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "engines/common/mem_env.h"
#include "fuzz/recovery_input.h"

namespace {

using blackout::engines::MemEnv;
using blackout::fuzz::EngineSpec;
using nlohmann::json;

json WriteRequest(const EngineSpec& spec, int i) {
  json r = spec.write;
  const std::string n = std::to_string(i);
  if (r.contains("key")) {
    r["key"] = "k" + std::to_string(i % 7);
    r["value"] = "v" + n + std::string(i % 13, 'x');
  } else {
    r["stream"] = "s" + std::to_string(i % 3);
    r["data"] = json{{"n", i}};
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  namespace fs = std::filesystem;
  for (const char* engine : {"wal", "bitcask", "btree", "lsm", "eventstore"}) {
    const EngineSpec& spec = blackout::fuzz::FindSpec(engine);
    const fs::path out = fs::path(argv[1]) / (std::string("recovery_") + engine);
    fs::create_directories(out);
    for (uint8_t flags = 0; flags < 4; ++flags) {
      for (int ending = 0; ending < 3; ++ending) {
        const std::string dir = "/mem/store";
        MemEnv env(dir);
        auto session = spec.open(&env, dir, spec.config(flags));
        if (!session.ok()) {
          std::fprintf(stderr, "%s: open failed: %s\n", engine,
                       session.status().ToString().c_str());
          return 1;
        }
        for (int i = 0; i < 40; ++i) {
          json r = WriteRequest(spec, i);
          (void)(*session)->Handle(r["op"], r);
          if (i == 25 && spec.write["op"] == "put") {
            json d{{"op", "delete"}, {"key", "k3"}};
            (void)(*session)->Handle("delete", d);
          }
        }
        if (ending == 0) (void)(*session)->Close();
        if (ending >= 1) env.CrashProcess();
        if (ending == 2) env.CrashPower();
        session->reset();
        blackout::fuzz::StoreImage image;
        image.flags = flags;
        auto names = env.ListDir(dir);
        if (names.ok()) {
          for (const std::string& n : *names) {
            image.files[n] = env.ReadFileForTest(blackout::engines::JoinPath(dir, n));
          }
        }
        const std::string bytes = blackout::fuzz::EncodeStore(spec, image);
        std::ofstream(out / ("seed-" + std::to_string(flags) + "-" + std::to_string(ending)),
                      std::ios::binary)
            << bytes;
      }
    }
  }
  return 0;
}
