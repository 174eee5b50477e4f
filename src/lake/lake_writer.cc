#include "lake/lake_writer.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <set>
#include <vector>

#include "core/fault.h"
#include "core/file.h"
#include "core/hex.h"
#include "lake/lake_line.h"

namespace firehose::lake {

namespace fs = std::filesystem;

namespace {

// Lines collected for one file before they go through zstd (and out to the kernel).
constexpr std::size_t kPendingBytesMax = 128 << 10;

constexpr std::string_view kStage = "lake";

Status Injected(std::string_view probe_name, int errno_value) {
  return ErrnoStatus(std::string(probe_name) + " (injected)", errno_value);
}

}  // namespace

std::string_view RollCauseName(RollCause cause) {
  switch (cause) {
    case RollCause::kSize:
      return "size";
    case RollCause::kAge:
      return "age";
    case RollCause::kOpenFiles:
      return "open_files";
    case RollCause::kFlush:
      return "flush";
  }
  return "unknown";
}

LakeWriterOptions LakeWriterOptions::FromConfig(const Config& config) {
  LakeWriterOptions options;
  options.lake_root = LakeRoot(config.data_dir);
  options.writer_id = config.lake.writer_id;
  options.file_bytes_max = config.limits.lake_file_bytes_max;
  options.roll_age_ms = config.limits.lake_roll_age_ms;
  options.open_files_max = config.limits.lake_open_files_max;
  options.zstd_level = static_cast<int>(config.limits.lake_zstd_level);
  return options;
}

// Compression contexts are reused across ranges: creating one per file would re-allocate its
// tables (~1 MiB at level 1) every roll.
class LakeWriter::ContextPool {
 public:
  explicit ContextPool(int level) : level_(level) {}
  ~ContextPool() {
    for (ZSTD_CCtx* context : free_) ZSTD_freeCCtx(context);
  }
  ZSTD_CCtx* Acquire() {
    ZSTD_CCtx* context = nullptr;
    if (!free_.empty()) {
      context = free_.back();
      free_.pop_back();
      ZSTD_CCtx_reset(context, ZSTD_reset_session_only);
    } else {
      context = ZSTD_createCCtx();
      FH_CHECK(context != nullptr, "ZSTD_createCCtx failed (out of memory)");
      ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level_);
      // A content checksum lets any zstd reader detect a corrupted frame on its own.
      ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1);
    }
    return context;
  }
  void Release(ZSTD_CCtx* context) {
    if (context != nullptr) free_.push_back(context);
  }

 private:
  int level_;
  std::vector<ZSTD_CCtx*> free_;
};

// One temp file of the open range: lines in, one zstd frame out, hashed as written.
class LakeWriter::PartitionFile {
 public:
  PartitionFile(ContextPool* pool, ManifestFile description, fs::path temp_path)
      : pool_(pool), description_(std::move(description)), temp_path_(std::move(temp_path)) {}
  ~PartitionFile() {
    pool_->Release(context_);
    EVP_MD_CTX_free(sha_);
  }

  Status Create() {
    FH_ASSIGN_OR_RETURN(fd_, OpenFile(temp_path_, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    context_ = pool_->Acquire();
    sha_ = EVP_MD_CTX_new();
    if (sha_ == nullptr || EVP_DigestInit_ex(sha_, EVP_sha256(), nullptr) != 1) {
      return Internal("SHA-256 initialisation failed");
    }
    output_.resize(ZSTD_CStreamOutSize());
    return Status::Ok();
  }

  // The caller appends one whole line here, then calls Appended.
  std::string* pending() { return &pending_; }

  Status Appended(TimestampUs time, std::size_t line_bytes) {
    ++description_.lines;
    description_.uncompressed_bytes += line_bytes;
    if (description_.lines == 1 || time < description_.min_time) description_.min_time = time;
    if (description_.lines == 1 || time > description_.max_time) description_.max_time = time;
    if (pending_.size() < kPendingBytesMax) return Status::Ok();
    return Compress(ZSTD_e_continue);
  }

  // Ends the frame, writes and fsyncs the file. After this the description is final.
  Status Finish() {
    FH_RETURN_IF_ERROR(Compress(ZSTD_e_end));
    FH_RETURN_IF_ERROR(SyncData(fd_.get(), probe::kTempSync));
    FH_RETURN_IF_ERROR(fd_.Close());
    description_.sha256 = FinalDigestHex(sha_);
    return Status::Ok();
  }

  const ManifestFile& description() const { return description_; }
  const fs::path& temp_path() const { return temp_path_; }

 private:
  Status Compress(ZSTD_EndDirective mode) {
    ZSTD_inBuffer input{pending_.data(), pending_.size(), 0};
    while (true) {
      ZSTD_outBuffer output{output_.data(), output_.size(), 0};
      const std::size_t remaining = ZSTD_compressStream2(context_, &output, &input, mode);
      if (ZSTD_isError(remaining)) {
        return Internal(std::string("zstd compression: ") + ZSTD_getErrorName(remaining));
      }
      if (output.pos > 0) FH_RETURN_IF_ERROR(Write({output_.data(), output.pos}));
      const bool done = mode == ZSTD_e_end ? remaining == 0 : input.pos == input.size;
      if (done) break;
    }
    pending_.clear();
    return Status::Ok();
  }

  Status Write(std::string_view bytes) {
    FH_RETURN_IF_ERROR(WriteAll(fd_.get(), bytes, probe::kTempWrite));
    EVP_DigestUpdate(sha_, bytes.data(), bytes.size());
    description_.bytes += bytes.size();
    return Status::Ok();
  }

  ContextPool* pool_;
  ManifestFile description_;
  fs::path temp_path_;
  FileDescriptor fd_;
  ZSTD_CCtx* context_ = nullptr;
  EVP_MD_CTX* sha_ = nullptr;
  std::string pending_;
  std::vector<char> output_;
};

BusinessDate LakeWriter::DateCache::DateOf(TimestampUs time) {
  if (time.value() >= start_us_ && time.value() < end_us_) return date_;
  date_ = calendar_.DateOf(time);
  start_us_ = calendar_.StartOf(date_).value();
  end_us_ = calendar_.StartOf(date_.AddDays(1)).value();
  if (time.value() < start_us_ || time.value() >= end_us_) {
    // Only around odd zone transitions; do not cache.
    start_us_ = 1;
    end_us_ = 0;
  }
  return date_;
}

LakeWriter::LakeWriter(const Config& config, LakeWriterOptions options)
    : config_(config),
      options_(std::move(options)),
      temp_dir_(options_.lake_root / TempDirPath(options_.writer_id)),
      manifest_dir_(options_.lake_root / ManifestDirPath(options_.writer_id)),
      mapper_(config.limits),
      event_dates_(config.lake.calendar),
      arrival_dates_(config.lake.calendar),
      contexts_(std::make_unique<ContextPool>(options_.zstd_level)) {}

LakeWriter::~LakeWriter() = default;

Result<std::unique_ptr<LakeWriter>> LakeWriter::Open(const Config& config,
                                                     LakeWriterOptions options) {
  if (options.writer_id.empty()) return InvalidArgument("lake writer id is empty");
  if (!options.monotonic_ms) {
    options.monotonic_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
          .count();
    };
  }
  std::unique_ptr<LakeWriter> writer(new LakeWriter(config, std::move(options)));
  FH_RETURN_IF_ERROR(writer->Recover());
  return writer;
}

std::int64_t LakeWriter::NowMs() const { return options_.monotonic_ms(); }

std::optional<std::int64_t> LakeWriter::ms_until_roll() const {
  if (!range_.open) return std::nullopt;
  return std::max<std::int64_t>(0, range_.opened_ms + options_.roll_age_ms - NowMs());
}

Counter& LakeWriter::ReceivedCounter(std::string_view partner) {
  auto found = received_counters_.find(std::string(partner));
  if (found != received_counters_.end()) return *found->second;
  Counter& counter =
      Metrics().CounterFor("firehose_received_total",
                           {{"stage", std::string(kStage)}, {"partner", std::string(partner)}});
  received_counters_.emplace(std::string(partner), &counter);
  return counter;
}

void LakeWriter::ResumeAt(QueueOffset next) {
  FH_CHECK(!range_.open, "lake writer repositioned with a range open");
  FH_CHECK(next >= next_offset_, "lake writer repositioned at " + std::to_string(next.value()) +
                                     ", below its next offset " +
                                     std::to_string(next_offset_.value()) +
                                     ": those records may already be published");
  next_offset_ = next;
}

Status LakeWriter::Write(std::span<const Delivery> deliveries) {
  if (broken_) return FailedPrecondition("lake writer: an earlier error needs Recover() first");
  for (const Delivery& delivery : deliveries) {
    std::string_view error_kind = "offset_gap";
    Status status = CheckContiguous(delivery);
    if (status.ok()) {
      error_kind = "write";
      status = WriteRecord(delivery);
    }
    if (!status.ok()) {
      broken_ = true;
      Metrics()
          .CounterFor("firehose_errors_total",
                      {{"stage", std::string(kStage)}, {"kind", std::string(error_kind)}})
          .Add();
      return status;
    }
  }
  return RollIfDue();
}

Status LakeWriter::CheckContiguous(const Delivery& delivery) const {
  if (!options_.contiguous_offsets || delivery.offset == next_offset_) return Status::Ok();
  return FailedPrecondition(
      "lake writer " + options_.writer_id + " expected queue offset " +
      std::to_string(next_offset_.value()) + " but was given " +
      std::to_string(delivery.offset.value()) +
      " on a queue without gaps: refused, landing it would skip the records in between");
}

Result<LakeWriter::PartitionFile*> LakeWriter::FileFor(FileKey key) {
  auto found = files_.find(key);
  if (found != files_.end()) return found->second.get();
  ManifestFile description;
  description.zone = key.zone;
  description.date = key.date;
  description.path =
      PartFilePath(key.zone, key.date, options_.writer_id, range_.first, range_.first);
  description.temp_path =
      TempDirPath(options_.writer_id) + "/" + TempFileName(range_.first, key.zone, key.date);
  auto file = std::make_unique<PartitionFile>(contexts_.get(), std::move(description),
                                              options_.lake_root / TempDirPath(options_.writer_id) /
                                                  TempFileName(range_.first, key.zone, key.date));
  FH_RETURN_IF_ERROR(file->Create());
  return files_.emplace(key, std::move(file)).first->second.get();
}

Status LakeWriter::WriteRecord(const Delivery& delivery) {
  FH_CHECK(delivery.offset >= next_offset_,
           "lake writer given offset " + std::to_string(delivery.offset.value()) +
               " below its next offset " + std::to_string(next_offset_.value()) +
               ": that record may already be published");
  const QueueRecord& record = delivery.record;
  const PartnerConfig* partner = config_.FindPartner(record.partner_id.view());
  // Metric labels only ever hold configured partner ids (docs/instrumentation.md).
  const std::string_view partner_label = partner != nullptr ? record.partner_id.view() : "_unknown";
  ReceivedCounter(partner_label).Add();

  MappedArrival mapped;
  if (partner == nullptr) {
    mapped.unmapped.push_back({-1, "unknown_partner",
                               "partner '" + record.partner_id.str() + "' is not in the config",
                               record.body});
  } else {
    mapped = mapper_.Map(record.partner_id, *partner->mapping, record.body);
  }
  // Every arrival lands somewhere: an empty batch is quarantined, never mapped to nothing.
  FH_CHECK(!mapped.events.empty() || !mapped.unmapped.empty(),
           "a record mapped to no event and no quarantined part");

  // Where each line goes, decided before anything is written so that a record that would need
  // more files than allowed rolls the range first.
  const BusinessDate arrival_date = arrival_dates_.DateOf(record.received_at);
  std::vector<BusinessDate> event_dates;
  event_dates.reserve(mapped.events.size());
  std::set<FileKey> new_keys;
  for (const MappedEvent& event : mapped.events) {
    event_dates.push_back(event_dates_.DateOf(event.event.event_time));
    const FileKey key{Zone::kRaw, event_dates.back()};
    if (files_.count(key) == 0) new_keys.insert(key);
  }
  if (!mapped.unmapped.empty() && files_.count({Zone::kQuarantine, arrival_date}) == 0) {
    new_keys.insert({Zone::kQuarantine, arrival_date});
  }
  if (range_.open &&
      static_cast<std::int64_t>(files_.size() + new_keys.size()) > options_.open_files_max) {
    FH_RETURN_IF_ERROR(Publish(RollCause::kOpenFiles));
  }
  // A single record may need more files than the limit (a batch spanning many days): it gets
  // them, since a range cannot split a record. The overshoot is bounded by batch_events_max.
  if (!range_.open) {
    range_.open = true;
    range_.first = delivery.offset;
    range_.opened_ms = NowMs();
  }

  const std::string received_at_text = FormatRfc3339Micros(record.received_at);
  const LineEnvelope envelope{
      record.partner_id.view(), record.arrival_id.view(),         record.received_at,
      received_at_text,         ArrivalSourceName(record.source), delivery.offset};
  PartnerTally& tally = range_.tallies[std::string(partner_label)];
  ++tally.records;
  for (std::size_t i = 0; i < mapped.events.size(); ++i) {
    const MappedEvent& event = mapped.events[i];
    FH_CHECK(simdjson::validate_utf8(event.raw.data(), event.raw.size()),
             "a mapped event's raw bytes are not UTF-8: the lake could not keep them exactly");
    FH_ASSIGN_OR_RETURN(PartitionFile * file, FileFor({Zone::kRaw, event_dates[i]}));
    const std::size_t before = file->pending()->size();
    AppendRawLine(envelope, event.event, event_dates[i], event.event_index, event.raw,
                  file->pending());
    const std::size_t line_bytes = file->pending()->size() - before;
    FH_CHECK(line_bytes < kLineBytesMax, "a lake line over kLineBytesMax");
    range_.uncompressed_bytes += line_bytes;
    FH_RETURN_IF_ERROR(file->Appended(event.event.event_time, line_bytes));
  }
  for (const UnmappedPart& part : mapped.unmapped) {
    FH_ASSIGN_OR_RETURN(PartitionFile * file, FileFor({Zone::kQuarantine, arrival_date}));
    const std::size_t before = file->pending()->size();
    AppendQuarantineLine(envelope, arrival_date,
                         {part.event_index, part.reason, part.detail, part.raw}, file->pending());
    const std::size_t line_bytes = file->pending()->size() - before;
    FH_CHECK(line_bytes < kLineBytesMax, "a lake line over kLineBytesMax");
    range_.uncompressed_bytes += line_bytes;
    ++tally.quarantined[part.reason];
    FH_RETURN_IF_ERROR(file->Appended(record.received_at, line_bytes));
  }
  range_.records += 1;
  range_.events += mapped.events.size();
  range_.quarantined += mapped.unmapped.size();
  range_.last = delivery.offset;
  next_offset_ = QueueOffset(delivery.offset.value() + 1);
  if (static_cast<std::int64_t>(range_.uncompressed_bytes) >= options_.file_bytes_max) {
    return Publish(RollCause::kSize);
  }
  return Status::Ok();
}

Status LakeWriter::RollIfDue() {
  if (broken_) return FailedPrecondition("lake writer: an earlier error needs Recover() first");
  if (!range_.open || NowMs() - range_.opened_ms < options_.roll_age_ms) return Status::Ok();
  return Publish(RollCause::kAge);
}

Status LakeWriter::Flush() {
  if (broken_) return FailedPrecondition("lake writer: an earlier error needs Recover() first");
  return Publish(RollCause::kFlush);
}

Status LakeWriter::Publish(RollCause cause) {
  if (!range_.open) return Status::Ok();
  const auto started = std::chrono::steady_clock::now();
  std::vector<ManifestFile> files;
  const Status status = PublishFiles(&files);
  if (!status.ok()) {
    broken_ = true;
    Metrics()
        .CounterFor("firehose_errors_total", {{"stage", std::string(kStage)}, {"kind", "publish"}})
        .Add();
    return status.WithContext("publishing lake range " + std::to_string(range_.first.value()) +
                              "-" + std::to_string(range_.last.value()));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  CountPublished(cause, files, seconds);
  published_through_ = range_.last;
  range_ = Range{};
  files_.clear();
  return Status::Ok();
}

// Steps 1-3 of the publication protocol (docs/formats/lake.md).
Status LakeWriter::PublishFiles(std::vector<ManifestFile>* files) {
  for (auto& [key, file] : files_) {
    FH_RETURN_IF_ERROR(file->Finish());
    ManifestFile description = file->description();
    description.path =
        PartFilePath(key.zone, key.date, options_.writer_id, range_.first, range_.last);
    files->push_back(std::move(description));
  }
  FH_RETURN_IF_ERROR(SyncDirectory(temp_dir_));

  if (const int injected = fault::Check(probe::kBeforeManifest))
    return Injected(probe::kBeforeManifest, injected);
  if (options_.fence) FH_RETURN_IF_ERROR(options_.fence());
  Manifest manifest;
  manifest.writer = options_.writer_id;
  manifest.first = range_.first;
  manifest.last = range_.last;
  manifest.records = range_.records;
  manifest.events = range_.events;
  manifest.quarantined = range_.quarantined;
  manifest.published_at = NowUs();
  manifest.files = *files;
  // The commit point: from here on the range is published, whatever happens next.
  FH_RETURN_IF_ERROR(WriteFileAtomically(
      options_.lake_root / ManifestPath(manifest.writer, manifest.first, manifest.last),
      EncodeManifest(manifest)));
  if (const int injected = fault::Check(probe::kAfterManifest))
    return Injected(probe::kAfterManifest, injected);

  std::set<fs::path> partition_dirs;
  for (const ManifestFile& file : *files) {
    const fs::path final_path = options_.lake_root / file.path;
    if (partition_dirs.insert(final_path.parent_path()).second) {
      FH_RETURN_IF_ERROR(EnsureDirectory(final_path.parent_path()));
    }
    if (const int injected = fault::Check(probe::kRename))
      return Injected(probe::kRename, injected);
    if (::rename((options_.lake_root / file.temp_path).c_str(), final_path.c_str()) != 0) {
      return ErrnoStatus("rename " + file.temp_path + " -> " + file.path, errno);
    }
    if (const int injected = fault::Check(probe::kAfterRename))
      return Injected(probe::kAfterRename, injected);
  }
  for (const fs::path& directory : partition_dirs) FH_RETURN_IF_ERROR(SyncDirectory(directory));
  return SyncDirectory(temp_dir_);
}

void LakeWriter::CountPublished(RollCause cause, const std::vector<ManifestFile>& files,
                                double seconds) {
  MetricsRegistry& metrics = Metrics();
  const std::string stage(kStage);
  std::uint64_t bytes = 0;
  for (const ManifestFile& file : files) bytes += file.bytes;
  metrics.CounterFor("firehose_written_events_total", {{"stage", stage}}).Add(range_.events);
  metrics.CounterFor("firehose_written_bytes_total", {{"stage", stage}}).Add(bytes);
  metrics.CounterFor("firehose_lake_files_published_total").Add(files.size());
  metrics.CounterFor("firehose_lake_rolls_total", {{"cause", std::string(RollCauseName(cause))}})
      .Add();
  metrics.HistogramFor("firehose_lake_publish_seconds").Observe(seconds);
  for (const auto& [partner, tally] : range_.tallies) {
    metrics.CounterFor("firehose_accepted_total", {{"stage", stage}, {"partner", partner}})
        .Add(tally.records);
    for (const auto& [reason, count] : tally.quarantined) {
      metrics
          .CounterFor("firehose_lake_quarantined_total", {{"partner", partner}, {"reason", reason}})
          .Add(count);
      spdlog::warn("lake: partner {}: {} part(s) quarantined for {} in range {}-{}", partner, count,
                   reason, range_.first.value(), range_.last.value());
    }
  }
  spdlog::debug(
      "lake: published range {}-{} ({}): {} records, {} events, {} quarantined, {} files, "
      "{} bytes in {:.1f} ms",
      range_.first.value(), range_.last.value(), RollCauseName(cause), range_.records,
      range_.events, range_.quarantined, files.size(), bytes, seconds * 1000);
}

namespace {

Result<std::vector<std::string>> DirectoryNames(const fs::path& directory) {
  std::vector<std::string> names;
  std::error_code error;
  fs::directory_iterator it(directory, error);
  if (error) return Internal("listing " + directory.string() + ": " + error.message());
  for (const fs::directory_entry& entry : it) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

Status Unlink(const fs::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return ErrnoStatus("unlink " + path.string(), errno);
  return Status::Ok();
}

}  // namespace

Status LakeWriter::Recover() {
  files_.clear();  // closes the temp files; the sweep below deletes them
  range_ = Range{};
  // Until the sweep below succeeds next_offset_ is not known: nothing may be written.
  broken_ = true;
  FH_RETURN_IF_ERROR(EnsureDirectory(manifest_dir_));
  FH_RETURN_IF_ERROR(EnsureDirectory(temp_dir_));

  // Manifests by first offset. A "<name>.json.tmp" is a manifest write that never reached its
  // rename: that range was not committed.
  std::map<std::uint64_t, QueueOffset> manifests;  // first -> last
  std::optional<QueueOffset> last_published;
  FH_ASSIGN_OR_RETURN(const std::vector<std::string> manifest_names, DirectoryNames(manifest_dir_));
  for (const std::string& name : manifest_names) {
    QueueOffset first;
    QueueOffset last;
    if (ParseManifestFileName(name, &first, &last)) {
      manifests[first.value()] = last;
      if (!last_published || last > *last_published) last_published = last;
    } else if (name.ends_with(".tmp")) {
      FH_RETURN_IF_ERROR(Unlink(manifest_dir_ / name));
    }
  }

  FH_ASSIGN_OR_RETURN(const std::vector<std::string> temp_names, DirectoryNames(temp_dir_));
  std::set<fs::path> touched_dirs;
  for (const std::string& name : temp_names) {
    const std::string relative = TempDirPath(options_.writer_id) + "/" + name;
    QueueOffset first;
    const auto manifest =
        ParseTempFileFirst(name, &first) ? manifests.find(first.value()) : manifests.end();
    const ManifestFile* listed = nullptr;
    Manifest loaded;
    if (manifest != manifests.end()) {
      FH_ASSIGN_OR_RETURN(loaded,
                          ReadManifest(options_.lake_root /
                                       ManifestPath(options_.writer_id, first, manifest->second)));
      for (const ManifestFile& file : loaded.files) {
        if (file.temp_path == relative) listed = &file;
      }
    }
    if (listed == nullptr) {
      FH_RETURN_IF_ERROR(Unlink(temp_dir_ / name));
      continue;
    }
    // Committed but not yet renamed: roll forward. The file is the one the manifest describes;
    // it is moved, never rewritten.
    const fs::path final_path = options_.lake_root / listed->path;
    std::error_code error;
    if (fs::exists(final_path, error)) {
      spdlog::error("lake: {} is published and {} still exists; removing the temp copy",
                    listed->path, relative);
      FH_RETURN_IF_ERROR(Unlink(temp_dir_ / name));
      continue;
    }
    const auto size = fs::file_size(temp_dir_ / name, error);
    if (error || size != listed->bytes) {
      spdlog::error(
          "lake: {} has {} bytes, its manifest says {}; publishing it anyway (lake verify will "
          "report it)",
          relative, error ? 0 : size, listed->bytes);
    }
    FH_RETURN_IF_ERROR(EnsureDirectory(final_path.parent_path()));
    if (::rename((temp_dir_ / name).c_str(), final_path.c_str()) != 0) {
      return ErrnoStatus("rename " + relative + " -> " + listed->path, errno);
    }
    touched_dirs.insert(final_path.parent_path());
    spdlog::info("lake: recovery published {} (its manifest was committed before a crash)",
                 listed->path);
  }
  for (const fs::path& directory : touched_dirs) FH_RETURN_IF_ERROR(SyncDirectory(directory));
  FH_RETURN_IF_ERROR(SyncDirectory(temp_dir_));
  FH_RETURN_IF_ERROR(SyncDirectory(manifest_dir_));

  published_through_ = last_published;
  next_offset_ = last_published ? QueueOffset(last_published->value() + 1) : QueueOffset(0);
  broken_ = false;
  return Status::Ok();
}

}  // namespace firehose::lake
