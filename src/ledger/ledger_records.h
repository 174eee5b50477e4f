// The ledger job's in-memory and spill-file records (private to src/ledger/). Spill files are
// scratch: written and read by the same run, never kept, so their layout is the host's.
//
// Every record is a fixed header followed by the txn_id bytes, padded to 8 bytes, so that a
// buffer of records is walked with no per-record allocation and every header is aligned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace firehose::ledger {

// Exact sums of int64 amounts (GCC/Clang extension; -Wpedantic needs __extension__).
__extension__ typedef __int128 Int128;

inline constexpr std::size_t PaddedBytes(std::size_t bytes) {
  return (bytes + 7) & ~std::size_t{7};
}

// Status, has_version and conflict packed into one byte.
inline constexpr std::uint8_t kStatusMask = 0x0F;
inline constexpr std::uint8_t kHasVersionBit = 0x10;
inline constexpr std::uint8_t kConflictBit = 0x20;

// One version of a key, as the scan read it from a lake line.
struct VersionRecord {
  std::int64_t amount_minor;
  std::int64_t event_time_us;
  std::int64_t version;  // meaningful with kHasVersionBit
  std::int64_t received_at_us;
  std::uint64_t key_hash;
  std::uint32_t file;     // index of the file in the run's input set (sorted by path)
  std::uint32_t line;     // 1-based line number in that file
  std::uint16_t partner;  // id in the run's partner dictionary
  std::uint8_t txn_bytes;
  std::uint8_t flags;  // status | kHasVersionBit
  char currency[3];
  std::int8_t day_offset;  // the line's event_date minus the run's day

  std::string_view txn_id() const { return {reinterpret_cast<const char*>(this + 1), txn_bytes}; }
  std::size_t size() const { return sizeof(VersionRecord) + PaddedBytes(txn_bytes); }
};
static_assert(sizeof(VersionRecord) == 56, "VersionRecord is a packed 56-byte header");

// One booked key, in the order the merge needs: (partner rank, txn_id).
struct BookedRecord {
  std::int64_t amount_minor;
  std::int64_t event_time_us;
  std::int64_t version;
  std::uint32_t file;
  std::uint32_t line;
  std::uint32_t versions;
  std::uint16_t partner_rank;  // position of the partner id in byte order
  std::uint8_t txn_bytes;
  std::uint8_t flags;  // status | kHasVersionBit | kConflictBit
  char currency[3];
  std::uint8_t reserved[5];

  std::string_view txn_id() const { return {reinterpret_cast<const char*>(this + 1), txn_bytes}; }
  std::size_t size() const { return sizeof(BookedRecord) + PaddedBytes(txn_bytes); }
};
static_assert(sizeof(BookedRecord) == 48, "BookedRecord is a packed 48-byte header");

// One other value of a conflicting key.
struct ConflictRecord {
  std::int64_t amount_minor;
  std::int64_t other_amount_minor;
  std::uint32_t versions;
  std::uint32_t other_versions;
  std::uint16_t partner_rank;
  std::uint8_t txn_bytes;
  std::uint8_t status;
  std::uint8_t other_status;
  char currency[3];
  char other_currency[3];
  std::uint8_t reserved[3];

  std::string_view txn_id() const { return {reinterpret_cast<const char*>(this + 1), txn_bytes}; }
  std::size_t size() const { return sizeof(ConflictRecord) + PaddedBytes(txn_bytes); }
};
static_assert(sizeof(ConflictRecord) == 40, "ConflictRecord is a packed 40-byte header");

// Appends a header and its txn_id (zero-padded) at `out`, which has room for record.size().
template <typename Record>
inline void WriteRecord(const Record& header, std::string_view txn_id, char* out) {
  std::memcpy(out, &header, sizeof(Record));
  std::memcpy(out + sizeof(Record), txn_id.data(), txn_id.size());
  std::memset(out + sizeof(Record) + txn_id.size(), 0, PaddedBytes(txn_id.size()) - txn_id.size());
}

}  // namespace firehose::ledger
