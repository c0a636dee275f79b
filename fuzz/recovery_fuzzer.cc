// Fuzz target: one engine's recovery reader (the engine is chosen at build
// time by BLACKOUT_FUZZ_ENGINE). The input is a store directory (format in
// recovery_input.h) on a MemEnv; opening runs recovery, then everything is
// read back as `blackout engine --dump` would. Refusing to open with a
// Status is fine; crashing, hanging or allocating without bound is not.
#include <cstdint>
#include <string_view>

#include "fuzz/recovery_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const blackout::fuzz::EngineSpec& spec = blackout::fuzz::FindSpec(BLACKOUT_FUZZ_ENGINE);
  blackout::fuzz::RunRecovery(spec, std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
