#include "engines/wal/wal_format.h"

#include "engines/common/coding.h"
#include "engines/common/crc32.h"
#include "engines/common/utf8.h"

namespace blackout::engines::wal_format {

uint8_t OpByte(std::string_view name, bool fixed) {
  if (name == "PUT") return kOpPut;
  if (name == "DELETE") return kOpDelete;
  if (name == "COMMIT") return kOpCommit;
  if (name == "CHECKPOINT") return kOpCheckpoint;
  if (fixed && name == "BEGIN") return kOpBegin;
  return 0;
}

std::string OpName(uint8_t op, bool fixed) {
  switch (op) {
    case kOpPut:
      return "PUT";
    case kOpDelete:
      return "DELETE";
    case kOpCommit:
      return "COMMIT";
    case kOpCheckpoint:
      return "CHECKPOINT";
    case kOpBegin:
      if (fixed) return "BEGIN";
      break;
  }
  return "UNKNOWN";
}

std::string EncodeRef(uint64_t seq, uint8_t op, std::string_view key, std::string_view value) {
  std::string crc_data;
  crc_data += static_cast<char>(op);
  crc_data += key;
  crc_data += value;
  std::string out;
  PutU32LE(&out, static_cast<uint32_t>(21 + key.size() + value.size()));
  PutU32LE(&out, Crc32(crc_data));
  PutU64LE(&out, seq);
  out += static_cast<char>(op);
  PutI32LE(&out, static_cast<int32_t>(key.size()));
  out += key;
  PutI32LE(&out, static_cast<int32_t>(value.size()));
  out += value;
  return out;
}

namespace {

// Python's bytes[start:stop] (step 1).
std::string_view PySlice(std::string_view b, int64_t start, int64_t stop) {
  const int64_t n = static_cast<int64_t>(b.size());
  auto clamp = [n](int64_t i) {
    if (i < 0) i += n;
    if (i < 0) i = 0;
    if (i > n) i = n;
    return i;
  };
  start = clamp(start);
  stop = clamp(stop);
  if (stop <= start) return {};
  return b.substr(static_cast<size_t>(start), static_cast<size_t>(stop - start));
}

}  // namespace

RefRead ReadRef(std::string_view data, size_t* pos) {
  RefRead r;
  if (*pos + 4 > data.size()) return r;  // kEnd
  const uint32_t length = GetU32LE(data.data() + *pos);
  if (data.size() - *pos - 4 < length) return r;  // torn body: kEnd
  const std::string_view body = data.substr(*pos + 4, length);
  *pos += 4 + static_cast<size_t>(length);
  if (body.size() < 17) {
    r.outcome = RefOutcome::kStructError;
    r.error = "struct.error: unpack_from requires a buffer of at least 17 bytes (record length " +
              std::to_string(length) + ")";
    return r;
  }
  r.crc = GetU32LE(body.data());
  r.seq = GetU64LE(body.data() + 4);
  r.op = static_cast<uint8_t>(body[12]);
  const int64_t key_len = GetI32LE(body.data() + 13);
  int64_t offset = 17;
  const std::string_view key = PySlice(body, offset, offset + key_len);
  offset += key_len;
  // struct.unpack_from("<i", body, offset): a negative offset counts from the end.
  int64_t at = offset;
  const int64_t n = static_cast<int64_t>(body.size());
  if (at < 0) at += n;
  if (at < 0 || n - at < 4) {
    r.outcome = RefOutcome::kStructError;
    r.error = "struct.error: cannot read the value length at offset " + std::to_string(offset) +
              " of a " + std::to_string(n) + "-byte record";
    return r;
  }
  const int64_t val_len = GetI32LE(body.data() + at);
  offset += 4;
  const std::string_view value = PySlice(body, offset, offset + val_len);
  std::string crc_data;
  crc_data += static_cast<char>(r.op);
  crc_data += key;
  crc_data += value;
  if (Crc32(crc_data) != r.crc) {
    r.outcome = RefOutcome::kValueError;
    r.error = "CRC mismatch at seq " + std::to_string(r.seq);
    return r;
  }
  if (!IsValidUtf8(key) || !IsValidUtf8(value)) {
    // UnicodeDecodeError is a ValueError: REF's callers treat it like a bad CRC.
    r.outcome = RefOutcome::kValueError;
    r.error = "invalid UTF-8 at seq " + std::to_string(r.seq);
    return r;
  }
  r.outcome = RefOutcome::kRecord;
  r.key.assign(key);
  r.value.assign(value);
  return r;
}

std::string EncodeHeader(uint64_t floor) {
  std::string out(kMagic);
  PutU64LE(&out, floor);
  PutU32LE(&out, Crc32(out));
  return out;
}

std::string EncodeFixed(uint64_t seq, uint8_t op, std::string_view key, std::string_view value) {
  std::string framed;  // len field + body, what the CRC covers
  PutU32LE(&framed, static_cast<uint32_t>(kMinBody + key.size() + value.size()));
  PutU64LE(&framed, seq);
  framed += static_cast<char>(op);
  PutU32LE(&framed, static_cast<uint32_t>(key.size()));
  framed += key;
  PutU32LE(&framed, static_cast<uint32_t>(value.size()));
  framed += value;
  std::string out;
  PutU32LE(&out, Crc32(framed));
  out += framed;
  return out;
}

FixedSegment ParseFixed(std::string_view data) {
  FixedSegment seg;
  if (data.size() < kHeaderSize) {
    seg.error = "segment header is torn (" + std::to_string(data.size()) + " bytes)";
    return seg;
  }
  if (data.substr(0, kMagic.size()) != kMagic ||
      GetU32LE(data.data() + 16) != Crc32(data.substr(0, 16))) {
    seg.error = "bad segment header (not a fixed-profile WAL segment, or damaged)";
    return seg;
  }
  seg.header_ok = true;
  seg.floor = GetU64LE(data.data() + 8);
  size_t pos = kHeaderSize;
  seg.valid_end = pos;
  while (pos < data.size()) {
    const size_t left = data.size() - pos;
    if (left < 8) {
      seg.error = "torn record header at offset " + std::to_string(pos);
      break;
    }
    const uint32_t crc = GetU32LE(data.data() + pos);
    const uint32_t len = GetU32LE(data.data() + pos + 4);
    if (len < kMinBody || len > kMaxBody) {
      seg.error = "bad record length " + std::to_string(len) + " at offset " + std::to_string(pos);
      break;
    }
    if (left - 8 < len) {
      seg.error = "torn record at offset " + std::to_string(pos);
      break;
    }
    if (Crc32(data.substr(pos + 4, 4 + len)) != crc) {
      seg.error = "CRC mismatch at offset " + std::to_string(pos);
      break;
    }
    const char* b = data.data() + pos + 8;
    FixedRecord rec;
    rec.crc = crc;
    rec.seq = GetU64LE(b);
    rec.op = static_cast<uint8_t>(b[8]);
    const uint32_t klen = GetU32LE(b + 9);
    if (klen > len - kMinBody) {
      seg.error = "bad key length at offset " + std::to_string(pos);
      break;
    }
    const uint32_t vlen = GetU32LE(b + 13 + klen);
    if (static_cast<uint64_t>(klen) + vlen + kMinBody != len) {
      seg.error = "bad value length at offset " + std::to_string(pos);
      break;
    }
    rec.key.assign(b + 13, klen);
    rec.value.assign(b + 17 + klen, vlen);
    rec.offset = pos;
    rec.end = pos + 8 + len;
    pos = rec.end;
    seg.valid_end = pos;
    seg.records.push_back(std::move(rec));
  }
  return seg;
}

}  // namespace blackout::engines::wal_format
