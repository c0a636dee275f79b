// The engines `blackout engine` can run: one line per engine. An engine whose
// library is not built yet is left out by its BLACKOUT_HAVE_<NAME> guard
// (set in this directory's CMakeLists.txt from `if(TARGET blackout_<name>)`).
#include "engines/driver/driver.h"
#include "engines/driver/sessions.h"

namespace blackout::engines {

const std::vector<EngineEntry>& EngineRegistry() {
  static const std::vector<EngineEntry> kEngines = {
#if BLACKOUT_HAVE_BITCASK
    {"bitcask", &OpenBitcaskSession},
#endif
#if BLACKOUT_HAVE_BTREE
    {"btree", &OpenBtreeSession},
#endif
#if BLACKOUT_HAVE_EVENTSTORE
    {"eventstore", &OpenEventstoreSession},
#endif
#if BLACKOUT_HAVE_LSM
    {"lsm", &OpenLsmSession},
#endif
#if BLACKOUT_HAVE_WAL
    {"wal", &OpenWalSession},
#endif
  };
  return kEngines;
}

}  // namespace blackout::engines
