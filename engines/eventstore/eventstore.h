// engines/eventstore: the append-only event store with NDJSON persistence, ported from
// `event-sourcing-store/event_store.py` of benthomasson/ddia-implementations at 0433b6c
// (REF). ENGINES.md section 6 is the specification; FORMAT.md beside this file gives the
// lines. The store's file is DIR/events.ndjson. Projections and subscribers are not ported:
// nothing in the harness drives them, and they hold no durable state.
//
// Two profiles:
//  - default: REF call for call. Each event is its own open("a") / one write / close, no
//    flush call, no fsync, no directory fsync; an event goes into memory before it goes to
//    disk (H-E3), a batch is one open/write/close per event (not atomic); on open every line
//    is parsed and event_id is taken as written (H-E2); a torn or corrupt line makes the
//    store unopenable (H-E1): Open returns Corruption where REF raises JSONDecodeError.
//  - fixed: the directory is locked (DIR/LOCK) against a second process (H-E4); the file is
//    created at open with a directory fsync; every append (a batch: all its lines) is one
//    write followed by fsync, and only then enters memory; a batch's lines carry a batch
//    marker so a batch cut short by a crash is dropped whole; on open a torn tail (from the
//    first line that does not parse, or an incomplete batch) is cut off and the cut made
//    durable; event ids must run 1, 2, 3, ... or the open fails.
//
// Known limitation (both profiles): nlohmann::json keeps object keys sorted, so a "data"
// object whose keys REF would write in insertion order is written in sorted order. Snapshots
// and LiveProjection gaps (H-E5) do not apply: neither is ported.
//
// Thread-safety: none; one EventStore per directory.
#ifndef BLACKOUT_ENGINES_EVENTSTORE_EVENTSTORE_H_
#define BLACKOUT_ENGINES_EVENTSTORE_EVENTSTORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engines/common/env.h"
#include "engines/common/status.h"

namespace blackout::engines {

struct EventStoreOptions {
  bool fixed = false;  // profile "fixed"
};

// One event as REF's Event dataclass holds it. event_id is any JSON value in the default
// profile because REF reads it from the file without validation (H-E2); the fixed profile
// guarantees an integer equal to the event's position (1-based).
struct StoredEvent {
  nlohmann::json event_id;
  std::string stream_id;
  std::string event_type;
  nlohmann::json data;
  std::string timestamp;  // naive local ISO 8601, as written
  nlohmann::json metadata;
};

// (event_type, data), as REF's append_batch takes them.
using NewEvent = std::pair<std::string, nlohmann::json>;

class EventStore {
 public:
  // Loads DIR/events.ndjson if it exists. Default: does not create DIR or the file (REF
  // creates the file on the first append). Fixed: creates both, fsyncs the directory, locks it.
  // Durability: default: nothing written. fixed: the file's directory entry and any torn-tail
  // cut survive power loss.
  // Errors: Corruption for a line that is not a complete event (default: any; fixed: a bad line
  // followed by good ones, or ids out of sequence); Busy when another process holds the lock.
  [[nodiscard]] static Result<std::unique_ptr<EventStore>> Open(Env* env, const std::string& dir,
                                                                const EventStoreOptions& options);

  ~EventStore();
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  // Appends one event to `stream_id` and returns it. When expected_version is given and the
  // stream holds another number of events, returns InvalidArgument "ConcurrencyConflict: ..."
  // with nothing changed.
  // Durability: default: the line is handed to the kernel (survives a process crash) and is
  // never fsynced (a power cut can lose it); the event is in memory even if the write failed.
  // fixed: when OK, the event survives power loss; on error it is not in memory and the store
  // refuses further appends until reopened (the file may hold an unacknowledged tail).
  [[nodiscard]] Result<StoredEvent> Append(const std::string& stream_id,
                                           const std::string& event_type, nlohmann::json data,
                                           nlohmann::json metadata = nullptr,
                                           std::optional<int64_t> expected_version = {});

  // Appends several events to one stream (metadata null), version checked once.
  // Durability: default: one open/write/close per event, so a crash in the middle leaves a
  // prefix of the batch (not atomic); nothing fsynced. fixed: one write of every line, one
  // fsync; after a crash the batch is there whole or not at all (batch-atomic).
  [[nodiscard]] Result<std::vector<StoredEvent>> AppendBatch(
      const std::string& stream_id, const std::vector<NewEvent>& events,
      std::optional<int64_t> expected_version = {});

  // REF's read_stream: the stream's events whose GLOBAL event_id >= from_version (REF's
  // quirk: not the position inside the stream). Durability: reads memory only.
  std::vector<StoredEvent> ReadStream(const std::string& stream_id, int64_t from_version = 0) const;
  // REF's read_all: every event with event_id >= from_position. Durability: memory only.
  std::vector<StoredEvent> ReadAll(int64_t from_position = 0) const;
  // Number of events in the stream. Durability: memory only.
  int64_t StreamVersion(const std::string& stream_id) const;
  // Stream ids in order of first appearance. Durability: memory only.
  std::vector<std::string> AllStreamIds() const;
  // Total number of events. Durability: memory only.
  int64_t GlobalPosition() const;

  // Self-check: ids run 1..N; the file, read back, holds exactly the events in memory (REF
  // puts an event in memory before it is on disk, H-E3). Durability: reads only.
  [[nodiscard]] Result<std::vector<std::string>> Verify();

  // Releases the lock (fixed); REF has no close and keeps no file open between events.
  // Durability: nothing changes (default: nothing was ever fsynced).
  [[nodiscard]] Status Close();

  const std::string& path() const { return path_; }

 private:
  EventStore(Env* env, std::string dir, const EventStoreOptions& options);
  [[nodiscard]] Status Load();
  [[nodiscard]] Status AppendLines(const std::string& lines, size_t count);
  StoredEvent MakeEvent(const std::string& stream_id, const std::string& event_type,
                        nlohmann::json data, nlohmann::json metadata);
  std::string EncodeLine(const StoredEvent& e,
                         std::optional<std::pair<int64_t, int64_t>> batch) const;
  void AddToMemory(StoredEvent e);
  [[nodiscard]] Status CheckVersion(const std::string& stream_id,
                                    std::optional<int64_t> expected) const;

  Env* env_;
  const std::string dir_;
  const std::string path_;
  const EventStoreOptions opt_;
  std::unique_ptr<DirLock> lock_;
  std::unique_ptr<File> file_;  // fixed: kept open (O_APPEND) between appends
  uint64_t file_size_ = 0;      // fixed: bytes known to hold whole, acknowledged events
  bool failed_ = false;         // fixed: a write or fsync failed; reopen to continue
  bool closed_ = false;
  std::vector<StoredEvent> events_;
  std::map<std::string, std::vector<size_t>> streams_;
  std::vector<std::string> stream_order_;
};

}  // namespace blackout::engines

#endif  // BLACKOUT_ENGINES_EVENTSTORE_EVENTSTORE_H_
