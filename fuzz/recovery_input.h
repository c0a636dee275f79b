// The input format of the recovery fuzz targets: the bytes of a store
// directory, so that libFuzzer's mutations land in file contents and not in
// names the engine would ignore.
//
//   byte 0      flags: bit 0 = fixed profile, bit 1 = the engine's small
//               variant (small pages / small files; see EngineSpec::config)
//   then files: u8 name index (mod the engine's name list), u16 length
//               (little-endian), that many bytes; a short tail is cut to
//               what is there. A name given twice keeps the last content.
//
// Each engine's names are the files its recovery looks at (FORMAT.md),
// including leftovers such as *.tmp files, so both the happy path and the
// clean-up path are reached.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "engines/common/env.h"
#include "engines/driver/session.h"

namespace blackout::fuzz {

struct EngineSpec {
  const char* name;
  std::vector<std::string> files;
  // Opens the store (runs recovery) with the profile and variant of `flags`.
  engines::Result<std::unique_ptr<engines::EngineSession>> (*open)(engines::Env*,
                                                                   const std::string&,
                                                                   const nlohmann::json&);
  // The --config for `flags`.
  nlohmann::json (*config)(uint8_t flags);
  // One write request the engine serves, to run the "reopen for append"
  // path after recovery.
  nlohmann::json write;
};

// The spec of engine `name` ("wal", "bitcask", "btree", "lsm", "eventstore").
const EngineSpec& FindSpec(std::string_view name);

struct StoreImage {
  uint8_t flags = 0;
  std::map<std::string, std::string> files;  // name -> content
};

StoreImage DecodeStore(const EngineSpec& spec, std::string_view bytes);
// Files whose name is not in the spec's list are left out.
std::string EncodeStore(const EngineSpec& spec, const StoreImage& image);

// Decodes `bytes`, writes the files into a MemEnv, opens the store and reads
// everything back (Dump), serves one write, dumps again and closes. Aborts
// only when the session breaks its own contract (a reply without "ok").
void RunRecovery(const EngineSpec& spec, std::string_view bytes);

}  // namespace blackout::fuzz
