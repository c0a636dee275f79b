// The factory of each engine's session, each defined in
// engines/<name>/<name>_session.cc and listed in engines/driver/registry.cc.
//
// `config` is the --config object: the original's constructor arguments plus
// "profile": "default" | "fixed". An unknown key or a wrong type is an
// InvalidArgument naming the key. Opening runs the engine's recovery; a
// recovery failure (e.g. REF's uncaught exception on a torn record) is the
// returned Status.
#ifndef BLACKOUT_ENGINES_DRIVER_SESSIONS_H_
#define BLACKOUT_ENGINES_DRIVER_SESSIONS_H_

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "engines/common/env.h"
#include "engines/common/status.h"
#include "engines/driver/session.h"

namespace blackout::engines {

[[nodiscard]] Result<std::unique_ptr<EngineSession>> OpenWalSession(Env* env,
                                                                    const std::string& dir,
                                                                    const nlohmann::json& config);
[[nodiscard]] Result<std::unique_ptr<EngineSession>> OpenBitcaskSession(
    Env* env, const std::string& dir, const nlohmann::json& config);
[[nodiscard]] Result<std::unique_ptr<EngineSession>> OpenBtreeSession(Env* env,
                                                                      const std::string& dir,
                                                                      const nlohmann::json& config);
[[nodiscard]] Result<std::unique_ptr<EngineSession>> OpenLsmSession(Env* env,
                                                                    const std::string& dir,
                                                                    const nlohmann::json& config);
[[nodiscard]] Result<std::unique_ptr<EngineSession>> OpenEventstoreSession(
    Env* env, const std::string& dir, const nlohmann::json& config);

}  // namespace blackout::engines

#endif  // BLACKOUT_ENGINES_DRIVER_SESSIONS_H_
