#include "engines/eventstore/eventstore.h"

#include <chrono>
#include <utility>

#include "engines/common/utf8.h"
#include "engines/eventstore/python_json.h"

namespace blackout::engines {
namespace {

const char kFileName[] = "events.ndjson";

// str.strip() for the characters a text line can carry.
std::string_view Strip(std::string_view s) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
           (c >= '\x1c' && c <= '\x1f');
  };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// A line as REF's text-mode iteration yields it (universal newlines: \n, \r\n and \r end a
// line), with the offset just past its terminator.
struct Line {
  std::string_view text;
  size_t end;
  bool terminated;
};

std::vector<Line> SplitLines(std::string_view content, bool universal) {
  std::vector<Line> lines;
  size_t start = 0;
  for (size_t i = 0; i < content.size(); ++i) {
    const char c = content[i];
    if (c == '\n' || (universal && c == '\r')) {
      size_t end = i + 1;
      if (universal && c == '\r' && end < content.size() && content[end] == '\n') ++end;
      lines.push_back({content.substr(start, i - start), end, true});
      start = end;
      i = end - 1;
    }
  }
  if (start < content.size()) {
    lines.push_back({content.substr(start), content.size(), false});
  }
  return lines;
}

// REF's _load_from_file for one line: json.loads, then the record's fields. Whatever would
// raise in REF (JSONDecodeError, KeyError, TypeError, ValueError) is a Corruption here.
Status ParseEvent(std::string_view text, size_t line_no, StoredEvent* out,
                  nlohmann::json* record_out = nullptr) {
  const std::string where = std::string(kFileName) + " line " + std::to_string(line_no);
  nlohmann::json record = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded()) {
    return Status::Corruption("JSONDecodeError: " + where + " is not valid JSON");
  }
  if (!record.is_object()) return Status::Corruption("TypeError: " + where + " is not an object");
  for (const char* field : {"event_id", "stream_id", "event_type", "data", "timestamp"}) {
    if (!record.contains(field)) {
      return Status::Corruption(std::string("KeyError: ") + where + " has no '" + field + "'");
    }
  }
  if (!record["stream_id"].is_string() || !record["event_type"].is_string()) {
    return Status::Corruption(where + ": stream_id and event_type must be strings");
  }
  const nlohmann::json& ts = record["timestamp"];
  // datetime.fromisoformat needs at least YYYY-MM-DD.
  if (!ts.is_string() || ts.get_ref<const std::string&>().size() < 10 ||
      ts.get_ref<const std::string&>()[4] != '-' || ts.get_ref<const std::string&>()[7] != '-') {
    return Status::Corruption("ValueError: " + where + ": timestamp is not an ISO date");
  }
  out->event_id = record["event_id"];
  out->stream_id = record["stream_id"].get<std::string>();
  out->event_type = record["event_type"].get<std::string>();
  out->data = record["data"];
  out->timestamp = ts.get<std::string>();
  out->metadata = record.contains("metadata") ? record["metadata"] : nlohmann::json(nullptr);
  if (record_out != nullptr) *record_out = std::move(record);
  return Status::OK();
}

}  // namespace

EventStore::EventStore(Env* env, std::string dir, const EventStoreOptions& options)
    : env_(env), dir_(std::move(dir)), path_(JoinPath(dir_, kFileName)), opt_(options) {}

EventStore::~EventStore() = default;

Result<std::unique_ptr<EventStore>> EventStore::Open(Env* env, const std::string& dir,
                                                     const EventStoreOptions& options) {
  std::unique_ptr<EventStore> store(new EventStore(env, dir, options));
  BLACKOUT_RETURN_IF_ERROR(store->Load());
  return store;
}

Status EventStore::Load() {
  if (opt_.fixed) {
    BLACKOUT_RETURN_IF_ERROR(env_->CreateDirs(dir_));
    BLACKOUT_ASSIGN_OR_RETURN(lock_, env_->LockDir(dir_));
  }
  const bool existed = env_->Exists(path_);
  std::string content;
  if (existed) {
    BLACKOUT_ASSIGN_OR_RETURN(auto f, env_->Open(path_, OpenMode::kRead));
    BLACKOUT_ASSIGN_OR_RETURN(const uint64_t size, f->Size());
    BLACKOUT_ASSIGN_OR_RETURN(content, f->ReadAt(0, size));
  }
  if (!opt_.fixed) {
    // REF: every line must decode and parse; the first bad one makes the store unopenable.
    if (!IsValidUtf8(content)) {
      return Status::Corruption("UnicodeDecodeError: " + path_ + " is not UTF-8");
    }
    size_t line_no = 0;
    for (const Line& line : SplitLines(content, /*universal=*/true)) {
      ++line_no;
      const std::string_view text = Strip(line.text);
      if (text.empty()) continue;
      StoredEvent e;
      BLACKOUT_RETURN_IF_ERROR(ParseEvent(text, line_no, &e));
      AddToMemory(std::move(e));  // event_id as written, unvalidated (H-E2)
    }
    return Status::OK();
  }

  // Fixed: whole events up to the first line that is torn or unparsable, or up to the start
  // of a batch that is not complete; what follows is a torn tail and is cut off.
  const std::vector<Line> lines = SplitLines(content, /*universal=*/false);
  size_t good_end = 0;  // end of the last accepted line (or complete batch)
  size_t stop = lines.size();
  std::vector<StoredEvent> batch;  // events of a batch still waiting for its last line
  size_t batch_start = 0;
  int64_t batch_first = 0, batch_count = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const Line& line = lines[i];
    StoredEvent e;
    nlohmann::json record;
    if (!line.terminated || !IsValidUtf8(line.text) ||
        !ParseEvent(line.text, i + 1, &e, &record).ok()) {
      stop = i;
      break;
    }
    const auto expected_id = static_cast<int64_t>(events_.size() + batch.size() + 1);
    if (!e.event_id.is_number_integer() || e.event_id.get<int64_t>() != expected_id) {
      return Status::Corruption(path_ + " line " + std::to_string(i + 1) + ": event_id " +
                                e.event_id.dump() + ", expected " + std::to_string(expected_id));
    }
    if (record.contains("batch")) {
      const nlohmann::json& b = record["batch"];
      if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() ||
          !b[1].is_number_integer()) {
        return Status::Corruption(path_ + " line " + std::to_string(i + 1) + ": bad batch marker");
      }
      if (batch.empty()) {
        batch_start = good_end;
        batch_first = b[0].get<int64_t>();
        batch_count = b[1].get<int64_t>();
      }
      if (b[0].get<int64_t>() != batch_first || b[1].get<int64_t>() != batch_count ||
          expected_id != batch_first + static_cast<int64_t>(batch.size())) {
        return Status::Corruption(path_ + " line " + std::to_string(i + 1) +
                                  ": batch marker out of sequence");
      }
      batch.push_back(std::move(e));
      if (static_cast<int64_t>(batch.size()) == batch_count) {
        for (auto& be : batch) AddToMemory(std::move(be));
        batch.clear();
        good_end = line.end;
      }
      continue;
    }
    if (!batch.empty()) {
      return Status::Corruption(path_ + " line " + std::to_string(i + 1) +
                                ": an event follows an incomplete batch");
    }
    AddToMemory(std::move(e));
    good_end = line.end;
  }
  if (!batch.empty()) good_end = batch_start;  // a batch cut short is dropped whole
  // A torn tail can only be the end of the file: a complete, parsable event after the first
  // bad line means the damage is not from a crash, and cutting would throw away real events.
  for (size_t i = stop + 1; i < lines.size(); ++i) {
    StoredEvent e;
    if (lines[i].terminated && ParseEvent(lines[i].text, i + 1, &e).ok()) {
      return Status::Corruption(path_ + " line " + std::to_string(stop + 1) +
                                " is damaged but later lines hold events");
    }
  }
  if (existed && good_end < content.size()) {
    BLACKOUT_ASSIGN_OR_RETURN(auto f, env_->Open(path_, OpenMode::kReadWrite));
    BLACKOUT_RETURN_IF_ERROR(f->Truncate(good_end));
    BLACKOUT_RETURN_IF_ERROR(f->Sync());
    BLACKOUT_RETURN_IF_ERROR(f->Close());
  }
  file_size_ = good_end;
  BLACKOUT_ASSIGN_OR_RETURN(file_, env_->Open(path_, OpenMode::kAppend));
  if (!existed) BLACKOUT_RETURN_IF_ERROR(env_->SyncDir(dir_));  // the new file's entry
  return Status::OK();
}

void EventStore::AddToMemory(StoredEvent e) {
  auto [it, fresh] = streams_.try_emplace(e.stream_id);
  if (fresh) stream_order_.push_back(e.stream_id);
  it->second.push_back(events_.size());
  events_.push_back(std::move(e));
}

Status EventStore::CheckVersion(const std::string& stream_id,
                                std::optional<int64_t> expected) const {
  if (!expected) return Status::OK();
  const int64_t current = StreamVersion(stream_id);
  if (current == *expected) return Status::OK();
  return Status::InvalidArgument("ConcurrencyConflict: Expected version " +
                                 std::to_string(*expected) + " but stream '" + stream_id +
                                 "' is at version " + std::to_string(current));
}

StoredEvent EventStore::MakeEvent(const std::string& stream_id, const std::string& event_type,
                                  nlohmann::json data, nlohmann::json metadata) {
  StoredEvent e;
  e.event_id = static_cast<int64_t>(events_.size() + 1);  // REF: len(events) + 1
  e.stream_id = stream_id;
  e.event_type = event_type;
  e.data = std::move(data);
  e.timestamp = PythonLocalIsoformat(std::chrono::system_clock::now());
  e.metadata = std::move(metadata);
  return e;
}

// json.dumps of REF's record dict, key order event_id, stream_id, event_type, data,
// timestamp, metadata; the fixed profile adds "batch": [first_id, count] to batch lines.
std::string EventStore::EncodeLine(const StoredEvent& e,
                                   std::optional<std::pair<int64_t, int64_t>> batch) const {
  std::string line = "{\"event_id\": " + PythonJsonDumps(e.event_id) +
                     ", \"stream_id\": " + PythonJsonDumps(e.stream_id) +
                     ", \"event_type\": " + PythonJsonDumps(e.event_type) +
                     ", \"data\": " + PythonJsonDumps(e.data) +
                     ", \"timestamp\": " + PythonJsonDumps(e.timestamp) +
                     ", \"metadata\": " + PythonJsonDumps(e.metadata);
  if (batch) {
    line += ", \"batch\": [" + std::to_string(batch->first) + ", " + std::to_string(batch->second) +
            "]";
  }
  line += "}\n";
  return line;
}

// Fixed profile: one write of whole lines, then fsync. On failure the store stops taking
// appends: the file may now hold bytes memory does not, and only a reopen (which cuts the
// tail) brings the two back together.
Status EventStore::AppendLines(const std::string& lines, size_t count) {
  if (failed_) {
    return Status::IOError(path_ + ": an earlier write failed; reopen the store to continue");
  }
  Status s = file_->Write(lines);
  if (s.ok()) s = file_->Sync();
  if (!s.ok()) {
    failed_ = true;
    return s;
  }
  file_size_ += lines.size();
  (void)count;
  return Status::OK();
}

Result<StoredEvent> EventStore::Append(const std::string& stream_id, const std::string& event_type,
                                       nlohmann::json data, nlohmann::json metadata,
                                       std::optional<int64_t> expected_version) {
  if (closed_) return Status::InvalidArgument("event store " + path_ + " is closed");
  BLACKOUT_RETURN_IF_ERROR(CheckVersion(stream_id, expected_version));
  StoredEvent e = MakeEvent(stream_id, event_type, std::move(data), std::move(metadata));
  const std::string line = EncodeLine(e, std::nullopt);
  if (opt_.fixed) {
    BLACKOUT_RETURN_IF_ERROR(AppendLines(line, 1));
    AddToMemory(e);  // only after the line is durable
    return e;
  }
  // REF: memory first (H-E3), then open("a") / write / close: handed to the kernel, never
  // flushed further (ENGINES.md 6.3).
  AddToMemory(e);
  BLACKOUT_ASSIGN_OR_RETURN(auto f, env_->Open(path_, OpenMode::kAppend));
  BLACKOUT_RETURN_IF_ERROR(f->Write(line));
  BLACKOUT_RETURN_IF_ERROR(f->Close());
  return e;
}

Result<std::vector<StoredEvent>> EventStore::AppendBatch(const std::string& stream_id,
                                                         const std::vector<NewEvent>& events,
                                                         std::optional<int64_t> expected_version) {
  if (closed_) return Status::InvalidArgument("event store " + path_ + " is closed");
  BLACKOUT_RETURN_IF_ERROR(CheckVersion(stream_id, expected_version));
  std::vector<StoredEvent> result;
  if (opt_.fixed) {
    if (events.empty()) return result;
    const auto first = static_cast<int64_t>(events_.size() + 1);
    const auto count = static_cast<int64_t>(events.size());
    std::string lines;
    for (const auto& [type, data] : events) {
      StoredEvent e = MakeEvent(stream_id, type, data, nullptr);
      e.event_id = first + static_cast<int64_t>(result.size());
      lines += EncodeLine(e, std::make_pair(first, count));
      result.push_back(std::move(e));
    }
    BLACKOUT_RETURN_IF_ERROR(AppendLines(lines, events.size()));
    for (const auto& e : result) AddToMemory(e);
    return result;
  }
  // REF: each event goes to memory and then to its own open/write/close; a failure part-way
  // leaves the earlier events in memory and on disk.
  for (const auto& [type, data] : events) {
    StoredEvent e = MakeEvent(stream_id, type, data, nullptr);
    AddToMemory(e);
    BLACKOUT_ASSIGN_OR_RETURN(auto f, env_->Open(path_, OpenMode::kAppend));
    BLACKOUT_RETURN_IF_ERROR(f->Write(EncodeLine(e, std::nullopt)));
    BLACKOUT_RETURN_IF_ERROR(f->Close());
    result.push_back(std::move(e));
  }
  return result;
}

namespace {
bool AtLeast(const nlohmann::json& id, int64_t from) {
  // Python compares int with int; REF's unvalidated ids (H-E2) may be anything, and a
  // non-number compared with an int raises TypeError: such an event is simply not returned.
  if (id.is_number_integer()) return id.get<int64_t>() >= from;
  if (id.is_number()) return id.get<double>() >= static_cast<double>(from);
  return false;
}
}  // namespace

std::vector<StoredEvent> EventStore::ReadStream(const std::string& stream_id,
                                                int64_t from_version) const {
  std::vector<StoredEvent> out;
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return out;
  for (size_t i : it->second) {
    if (AtLeast(events_[i].event_id, from_version)) out.push_back(events_[i]);
  }
  return out;
}

std::vector<StoredEvent> EventStore::ReadAll(int64_t from_position) const {
  std::vector<StoredEvent> out;
  for (const auto& e : events_) {
    if (AtLeast(e.event_id, from_position)) out.push_back(e);
  }
  return out;
}

int64_t EventStore::StreamVersion(const std::string& stream_id) const {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? 0 : static_cast<int64_t>(it->second.size());
}

std::vector<std::string> EventStore::AllStreamIds() const { return stream_order_; }

int64_t EventStore::GlobalPosition() const { return static_cast<int64_t>(events_.size()); }

Result<std::vector<std::string>> EventStore::Verify() {
  std::vector<std::string> problems;
  for (size_t i = 0; i < events_.size(); ++i) {
    const nlohmann::json& id = events_[i].event_id;
    if (!id.is_number_integer() || id.get<int64_t>() != static_cast<int64_t>(i + 1)) {
      problems.push_back("event at position " + std::to_string(i + 1) + " has event_id " +
                         id.dump());
    }
  }
  // Memory against the file: REF updates memory before the disk (H-E3).
  std::string content;
  if (env_->Exists(path_)) {
    BLACKOUT_ASSIGN_OR_RETURN(auto f, env_->Open(path_, OpenMode::kRead));
    BLACKOUT_ASSIGN_OR_RETURN(const uint64_t size, f->Size());
    BLACKOUT_ASSIGN_OR_RETURN(content, f->ReadAt(0, size));
  }
  size_t on_disk = 0;
  size_t line_no = 0;
  for (const Line& line : SplitLines(content, !opt_.fixed)) {
    ++line_no;
    const std::string_view text = Strip(line.text);
    if (text.empty()) continue;
    StoredEvent e;
    Status s = ParseEvent(text, line_no, &e);
    if (!s.ok() || !line.terminated) {
      problems.push_back(path_ + " line " + std::to_string(line_no) + " is not a whole event");
      break;
    }
    if (on_disk < events_.size() && e.event_id != events_[on_disk].event_id) {
      problems.push_back(path_ + " line " + std::to_string(line_no) + " holds event_id " +
                         e.event_id.dump() + " where memory holds " +
                         events_[on_disk].event_id.dump());
    }
    ++on_disk;
  }
  if (on_disk != events_.size()) {
    problems.push_back("memory holds " + std::to_string(events_.size()) + " events but " + path_ +
                       " holds " + std::to_string(on_disk));
  }
  return problems;
}

Status EventStore::Close() {
  if (closed_) return Status::OK();
  closed_ = true;
  Status s;
  if (file_) s = file_->Close();
  lock_.reset();
  return s;
}

}  // namespace blackout::engines
