// Fuzz target: embedded-log recovery (queue/embedded_log.h) on a damaged last segment, through
// the real EmbeddedLog::Open on real files. Input:
//   byte 0       mode: bit 0 set = raw, else structured; structured with bit 1 set = recycled
//   structured   u16 cut, u16 flip position, u8 flip mask, then record bodies separated by '\n':
//                the bodies are written as one group commit of valid frames, then the frames are
//                cut to `cut` bytes (0: not cut) and one byte is XORed with the mask.
//   recycled     the same frames written into a retired segment's file (segment_recycle_max):
//                segment kRecycledBase's header and frames over the bytes of an older segment
//                (offsets below kRecycledBase, each body longer by bits 2-4 of byte 0: 0 leaves
//                the old frames on the new ones' boundaries). A crash mid-group: from `cut`
//                on, the new frames' bytes never reached the disk and the older segment's
//                are there instead — to the end (bits 5-7 of byte 0 zero), or for 64 << those
//                bits bytes, after which the rest of the group did reach it (a group's pages
//                reach the disk in any order).
//   raw          the bytes after a valid segment header are the rest of the input.
// Properties: Open never crashes; it either refuses with DataLoss or opens a log whose records
// are a dense prefix of what was written, byte for byte (structured); an undamaged log opens
// with every record; a log whose frames were only cut is never refused; no byte of a recycled
// file's older segment outlives the Open; and recovery is idempotent (a second Open sees the
// same records).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "core/check.h"
#include "core/crc32c.h"
#include "queue/embedded_log.h"
#include "queue/log_format.h"
#include "queue/record.h"

namespace firehose {
namespace {

std::filesystem::path FreshDirectory() {
  static std::atomic<int> serial{0};
  const std::filesystem::path base = std::filesystem::exists("/dev/shm")
                                         ? std::filesystem::path("/dev/shm")
                                         : std::filesystem::temp_directory_path();
  std::filesystem::path dir =
      base / ("firehose-log-fuzz-" + std::to_string(::getpid()) + "-" + std::to_string(serial++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

QueueRecord MakeRecord(std::string_view body, std::size_t index) {
  QueueRecord record;
  // A fixed, valid ULID with the index in its last characters (Crockford base32 digits).
  std::string id = "01JDQ7Z0000000000000000000";
  const std::string digits = std::to_string(index % 100000);
  id.replace(id.size() - digits.size(), digits.size(), digits);
  record.arrival_id = ArrivalId::Parse(id).value();
  record.partner_id = PartnerId::Parse("fuzz").value();
  record.received_at = TimestampUs(1764201600000000);
  record.body = std::string(body);
  return record;
}

// The base offset of the segment written into a recycled file, and of the older segment whose
// bytes that file held.
constexpr std::uint64_t kRecycledBase = 1000;
constexpr std::uint64_t kOlderBase = 900;

// One group commit of `bodies` at offsets base, base + 1, ...
std::string Frames(const std::vector<std::string>& bodies, std::uint64_t base = 0) {
  std::string out;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    std::string payload;
    EncodeRecord(MakeRecord(bodies[i], i), &payload);
    char header[log_format::kFrameHeaderBytes];
    log_format::EncodeFrameHeader(static_cast<std::uint32_t>(payload.size()), QueueOffset(base + i),
                                  static_cast<std::uint32_t>(i), crc32c::Value(payload), header);
    out.append(header, sizeof header);
    out += payload;
  }
  return out;
}

// Every stored record's body, or nullopt when Open refused.
std::optional<std::vector<std::string>> OpenAndRead(const std::filesystem::path& dir,
                                                    std::uint64_t base) {
  Limits limits;
  limits.record_bytes_max = 64 << 10;
  auto log = EmbeddedLog::Open(dir, limits);
  if (!log.ok()) {
    FH_CHECK(log.status().code() == StatusCode::kDataLoss,
             "recovery failed with " + log.status().ToString());
    return std::nullopt;
  }
  static std::atomic<int> consumer_serial{0};
  auto consumer = (*log)->OpenConsumer("fuzz" + std::to_string(consumer_serial++));
  FH_CHECK(consumer.ok(), consumer.status().ToString());
  std::vector<std::string> bodies;
  for (;;) {
    auto batch = (*consumer)->Fetch(1000, 64 << 20, std::chrono::milliseconds(0));
    if (!batch.ok()) {
      // A CRC-valid frame whose payload is not a record (raw mode): refused, not crashed.
      FH_CHECK(batch.status().code() == StatusCode::kDataLoss, batch.status().ToString());
      break;
    }
    if (batch->empty()) break;
    for (Delivery& delivery : *batch) {
      FH_CHECK(delivery.offset.value() == base + bodies.size(), "offsets are not dense");
      bodies.push_back(std::move(delivery.record.body));
    }
  }
  (*log)->Shutdown();
  return bodies;
}

}  // namespace
}  // namespace firehose

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace firehose;
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::err);  // every torn tail is logged as a warning
    return true;
  }();
  (void)quiet;
  if (size < 6) return 0;
  const bool structured = data[0] % 2 == 0;
  const bool recycled = structured && (data[0] & 2) != 0;
  const std::size_t older_longer_by = (data[0] >> 2) & 7;
  const int hole_shift = (data[0] >> 5) & 7;
  const std::size_t cut = data[1] | (data[2] << 8);
  const std::size_t flip_at = data[3] | (data[4] << 8);
  const std::uint8_t mask = data[5];
  std::string_view rest(reinterpret_cast<const char*>(data) + 6, size - 6);
  const std::uint64_t base = recycled ? kRecycledBase : 0;

  std::vector<std::string> bodies;
  std::string frames;
  if (structured) {
    while (!rest.empty() && bodies.size() < 64) {
      const std::size_t newline = rest.find('\n');
      bodies.emplace_back(rest.substr(0, newline));
      rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    }
    frames = Frames(bodies, base);
    if (cut > 0 && cut < frames.size() && !recycled) frames.resize(cut);
    if (mask != 0 && flip_at < frames.size())
      frames[flip_at] = static_cast<char>(frames[flip_at] ^ mask);
  } else {
    frames = std::string(rest);
  }

  std::string file =
      log_format::EncodeSegmentHeader({QueueOffset(base), TimestampUs(1764201600000000)}) + frames;
  if (recycled) {
    // The older segment: the same bodies, each longer by older_longer_by bytes, and a few more,
    // so that its bytes go on past the new frames.
    std::vector<std::string> older;
    for (const std::string& body : bodies)
      older.push_back(body + std::string(older_longer_by, '*'));
    for (int extra = 0; extra < 4; ++extra)
      older.push_back("older record " + std::to_string(extra));
    std::string disk =
        log_format::EncodeSegmentHeader({QueueOffset(kOlderBase), TimestampUs(1764100000000000)}) +
        Frames(older, kOlderBase);
    const std::size_t written_until =
        log_format::kSegmentHeaderBytes + (cut > 0 && cut < frames.size() ? cut : frames.size());
    const std::size_t resumes_at =
        hole_shift == 0 ? file.size()
                        : std::min(file.size(), written_until + (std::size_t{64} << hole_shift));
    // Past the older segment's end a file reads as zeros.
    if (disk.size() < written_until) disk.resize(written_until, '\0');
    if (resumes_at < file.size() && disk.size() < file.size()) disk.resize(file.size(), '\0');
    disk.replace(0, written_until, file, 0, written_until);
    if (resumes_at < file.size())
      disk.replace(resumes_at, file.size() - resumes_at, file, resumes_at);
    file = std::move(disk);
  }

  const std::filesystem::path dir = FreshDirectory();
  const std::filesystem::path segment_path = dir / log_format::SegmentFileName(QueueOffset(base));
  {
    std::ofstream segment(segment_path, std::ios::binary);
    segment << file;
  }
  const auto first = OpenAndRead(dir, base);
  if (first && structured) {
    FH_CHECK(first->size() <= bodies.size(), "recovery produced records that were never written");
    for (std::size_t i = 0; i < first->size(); ++i) {
      FH_CHECK((*first)[i] == bodies[i], "a recovered record differs from the one written");
    }
    const bool damaged =
        (cut > 0 && cut < Frames(bodies, base).size()) || (mask != 0 && flip_at < frames.size());
    FH_CHECK(damaged || first->size() == bodies.size(), "an undamaged log lost records");
  }
  if (structured && mask == 0)
    FH_CHECK(first.has_value(), "a log whose frames were only cut was refused");
  if (first && recycled) {
    // What follows the recovered frames is nothing, or the zeros the log writes ahead of its
    // writer (segment_prefill_bytes): never a byte of the older segment.
    const std::vector<std::string> kept(
        bodies.begin(), bodies.begin() + static_cast<std::ptrdiff_t>(first->size()));
    const std::size_t end = log_format::kSegmentHeaderBytes + Frames(kept, base).size();
    std::ifstream segment(segment_path, std::ios::binary);
    const std::string after_reopen((std::istreambuf_iterator<char>(segment)),
                                   std::istreambuf_iterator<char>());
    FH_CHECK(after_reopen.size() >= end &&
                 after_reopen.find_first_not_of('\0', end) == std::string::npos,
             "bytes of the recycled file's older segment outlived recovery");
  }
  if (first) {
    const auto second = OpenAndRead(dir, base);
    FH_CHECK(second && *second == *first, "recovery is not idempotent");
  }
  std::filesystem::remove_all(dir);
  return 0;
}
