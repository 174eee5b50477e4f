#include "ledger/shards.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <utility>

#include "core/fault.h"
#include "core/file.h"
#include "core/hex.h"
#include "core/json_integer.h"
#include "ledger/digest.h"
#include "ledger/ledger_job.h"

namespace firehose::ledger {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using warehouse::ConflictRow;
using warehouse::Finding;
using warehouse::RunFile;
using warehouse::RunRecord;
using warehouse::TotalRow;
using warehouse::TransactionRow;

constexpr int kShardsMax = 4096;
constexpr std::size_t kWriteChunkBytes = 1 << 20;

std::string BaseName(ShardSpec shard) {
  return "shard-" + std::to_string(shard.index) + "-of-" + std::to_string(shard.count);
}
std::string ManifestName(ShardSpec shard) { return BaseName(shard) + ".json"; }
std::string RowsName(ShardSpec shard) { return BaseName(shard) + ".rows"; }

// Unlinks `path` if it is there and makes that durable (a missing file is fine).
Status RemoveDurably(const fs::path& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoStatus("unlink " + path.string(), errno);
  }
  return SyncDirectory(path.parent_path());
}

std::vector<std::string> SplitFields(std::string_view line) {
  std::vector<std::string> fields(1);
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\t') {
      fields.emplace_back();
    } else if (c == '\\' && i + 1 < line.size()) {
      const char next = line[++i];
      fields.back().push_back(next == 't' ? '\t' : next == 'n' ? '\n' : next == 'r' ? '\r' : next);
    } else {
      fields.back().push_back(c);
    }
  }
  return fields;
}

Result<std::int64_t> ToInt(const std::string& text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return DataLoss("shard file: '" + text + "' is not an integer");
  }
  return value;
}

Result<TxnStatus> ToStatus(const std::string& text) {
  const std::optional<TxnStatus> status = TxnStatusFromName(text);
  if (!status) return DataLoss("shard file: unknown status '" + text + "'");
  return *status;
}

// The run record's counters as a shard manifest names them (both directions read this table).
constexpr std::pair<const char*, std::int64_t RunRecord::*> kRunCounters[] = {
    {"dedup_window_days", &RunRecord::dedup_window_days},
    {"partitions", &RunRecord::partitions},
    {"threads", &RunRecord::threads},
    {"memory_bytes_max", &RunRecord::memory_bytes_max},
    {"files_read", &RunRecord::files_read},
    {"bytes_read", &RunRecord::bytes_read},
    {"lines_read", &RunRecord::lines_read},
    {"lines_in_day", &RunRecord::lines_in_day},
    {"versions_read", &RunRecord::versions_read},
    {"keys_booked", &RunRecord::keys_booked},
    {"duplicates", &RunRecord::duplicates},
    {"conflicts", &RunRecord::conflicts},
    {"quarantined", &RunRecord::quarantined},
    {"spilled_bytes", &RunRecord::spilled_bytes},
};

json RunToJson(const RunRecord& run) {
  json j = {{"business_date", run.business_date.ToString()},
            {"started_at_us", run.started_at.value()},
            {"finished_at_us", run.finished_at.value()},
            {"timezone", run.timezone},
            {"partition_sizes", run.partition_sizes},
            {"digest", run.digest},
            {"timings", run.timings_json}};
  for (const auto& [key, counter] : kRunCounters) j[key] = run.*counter;
  return j;
}

Result<RunRecord> RunFromJson(const json& j) {
  RunRecord run;
  FH_ASSIGN_OR_RETURN(run.business_date,
                      BusinessDate::Parse(j.at("business_date").get<std::string>()));
  run.started_at = TimestampUs(JsonGet<std::int64_t>(j.at("started_at_us")));
  run.finished_at = TimestampUs(JsonGet<std::int64_t>(j.at("finished_at_us")));
  run.timezone = j.at("timezone").get<std::string>();
  for (const auto& [key, counter] : kRunCounters) run.*counter = JsonGet<std::int64_t>(j.at(key));
  const json& sizes = j.at("partition_sizes");
  if (!sizes.is_array()) return DataLoss("shard run record: partition_sizes is not an array");
  for (const json& size : sizes) run.partition_sizes.push_back(JsonGet<std::int64_t>(size));
  run.digest = j.at("digest").get<std::string>();
  run.timings_json = j.at("timings").get<std::string>();
  return run;
}

// A finding as a shard manifest holds it: a double booking also names its other day and lists
// its keys.
json FindingToJson(const Finding& finding) {
  json j = {{"business_date", finding.business_date.ToString()},
            {"keys", finding.keys},
            {"examples", finding.examples},
            {"kind", warehouse::FindingKindName(finding.kind)}};
  if (finding.kind != warehouse::FindingKind::kStale) {
    j["other_date"] = finding.other_date.ToString();
    json listed = json::array();
    for (const warehouse::Key& key : finding.listed_keys) listed.push_back({key.first, key.second});
    j["listed_keys"] = std::move(listed);
  }
  return j;
}

// Throws json::exception on a missing or mistyped field (LoadShard catches it).
Result<Finding> FindingFromJson(const json& j, BusinessDate day) {
  Finding finding;
  FH_ASSIGN_OR_RETURN(finding.business_date,
                      BusinessDate::Parse(j.at("business_date").get<std::string>()));
  finding.found_by_date = day;
  finding.keys = JsonGet<std::int64_t>(j.at("keys"));
  finding.examples = j.at("examples").get<std::string>();
  // A manifest without a kind was written before double bookings were found: stale.
  const std::string kind = j.value("kind", "stale");
  const std::optional<warehouse::FindingKind> parsed = warehouse::FindingKindFromName(kind);
  if (!parsed) return DataLoss("shard manifest: unknown finding kind '" + kind + "'");
  finding.kind = *parsed;
  if (finding.kind == warehouse::FindingKind::kStale) return finding;
  FH_ASSIGN_OR_RETURN(finding.other_date,
                      BusinessDate::Parse(j.at("other_date").get<std::string>()));
  for (const json& key : j.at("listed_keys")) {
    finding.listed_keys.emplace_back(key.at(0).get<std::string>(), key.at(1).get<std::string>());
  }
  return finding;
}

// Writes one shard's part of the day to files (see shards.h).
class ShardFileWriter : public warehouse::DayWriter {
 public:
  ShardFileWriter(fs::path dir, BusinessDate day, ShardSpec shard)
      : dir_(std::move(dir)), day_(day), shard_(shard), sha_(EVP_MD_CTX_new()) {}
  ~ShardFileWriter() override {
    EVP_MD_CTX_free(sha_);
    if (fd_.valid() || !committed_) {
      std::error_code error;
      fs::remove(TempPath(), error);
    }
  }
  ShardFileWriter(const ShardFileWriter&) = delete;
  ShardFileWriter& operator=(const ShardFileWriter&) = delete;

  // The shard's previous manifest goes first, durably: from here until this run's own manifest
  // is written the shard is absent, so a run killed at any point leaves nothing `ledger commit`
  // would pair with this run's rows (the rows file is replaced before the manifest is).
  Status Begin() {
    FH_RETURN_IF_ERROR(EnsureDirectory(dir_));
    FH_RETURN_IF_ERROR(RemoveDurably(dir_ / ManifestName(shard_)));
    std::error_code ignored;  // an orphan now: its space, not its absence, matters
    fs::remove(dir_ / RowsName(shard_), ignored);
    if (sha_ == nullptr || EVP_DigestInit_ex(sha_, EVP_sha256(), nullptr) != 1) {
      return Internal("shard: SHA-256 initialisation failed");
    }
    FH_ASSIGN_OR_RETURN(fd_, OpenFile(TempPath(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC));
    return Status::Ok();
  }

  Status AddTransaction(const TransactionRow& row) override {
    FH_RETURN_IF_ERROR(CheckDay(row.business_date));
    FH_RETURN_IF_ERROR(EnterSection(Section::kTransactions));
    buffer_.append("T\t");
    warehouse::AppendCopyText(row.partner_id, &buffer_);
    buffer_.push_back('\t');
    warehouse::AppendCopyText(row.txn_id, &buffer_);
    buffer_ += "\t" + std::to_string(row.amount.value()) + "\t" + row.currency + "\t" +
               std::string(TxnStatusName(row.status)) + "\t" +
               std::to_string(row.event_time.value()) + "\t" +
               (row.version ? std::to_string(*row.version) : "-") + "\t" +
               std::to_string(row.versions) + "\t" + (row.conflict ? "1" : "0") + "\t" +
               std::to_string(row.source_file) + "\t" + std::to_string(row.source_line) + "\n";
    return MaybeFlush();
  }

  Status AddTotal(const TotalRow& row) override {
    FH_RETURN_IF_ERROR(CheckDay(row.business_date));
    FH_RETURN_IF_ERROR(EnterSection(Section::kTotals));
    buffer_.append("S\t");
    warehouse::AppendCopyText(row.partner_id, &buffer_);
    buffer_ += "\t" + row.currency + "\t" + std::string(TxnStatusName(row.status)) + "\t" +
               std::to_string(row.txn_count) + "\t" + std::to_string(row.amount.value()) + "\n";
    return MaybeFlush();
  }

  Status AddConflict(const ConflictRow& row) override {
    FH_RETURN_IF_ERROR(CheckDay(row.business_date));
    FH_RETURN_IF_ERROR(EnterSection(Section::kConflicts));
    buffer_.append("C\t");
    warehouse::AppendCopyText(row.partner_id, &buffer_);
    buffer_.push_back('\t');
    warehouse::AppendCopyText(row.txn_id, &buffer_);
    buffer_ += "\t" + std::to_string(row.versions) + "\t" + std::to_string(row.amount.value()) +
               "\t" + row.currency + "\t" + std::string(TxnStatusName(row.status)) + "\t" +
               std::to_string(row.other_amount.value()) + "\t" + row.other_currency + "\t" +
               std::string(TxnStatusName(row.other_status)) + "\t" +
               std::to_string(row.other_versions) + "\n";
    return MaybeFlush();
  }

  Result<std::int64_t> Commit(RunRecord run, const std::vector<RunFile>& files,
                              const std::vector<Finding>& findings) override {
    if (!fd_.valid()) return FailedPrecondition("shard: the writer is not open");
    FH_RETURN_IF_ERROR(Flush());
    FH_RETURN_IF_ERROR(SyncData(fd_.get()));
    fd_ = FileDescriptor();
    FH_RETURN_IF_ERROR(RenameDurably(TempPath(), dir_ / RowsName(shard_)));
    committed_ = true;
    json manifest = {
        {"business_date", day_.ToString()},
        {"shard", shard_.index},
        {"shards", shard_.count},
        {"rows",
         {{"file", RowsName(shard_)}, {"bytes", rows_bytes_}, {"sha256", FinalDigestHex(sha_)}}},
        {"run", RunToJson(run)},
        {"files", json::array()},
        {"findings", json::array()}};
    for (const RunFile& file : files) {
      manifest["files"].push_back({{"index", file.index},
                                   {"path", file.path},
                                   {"partition_date", file.partition_date.ToString()},
                                   {"bytes", file.bytes},
                                   {"sha256", file.sha256},
                                   {"lines", file.lines}});
    }
    for (const Finding& finding : findings) manifest["findings"].push_back(FindingToJson(finding));
    if (const int injected = fault::Check(warehouse::kProbeBeforeCommit)) {
      return ErrnoStatus(std::string(warehouse::kProbeBeforeCommit) + " (injected)", injected);
    }
    FH_RETURN_IF_ERROR(WriteFileAtomically(dir_ / ManifestName(shard_), manifest.dump(1) + "\n"));
    return std::int64_t{0};
  }

 private:
  // The reader takes the rows file in one pass, in this order (see ShardInput).
  enum class Section { kTransactions, kTotals, kConflicts };

  fs::path TempPath() const {
    return dir_ / (RowsName(shard_) + ".tmp-" + std::to_string(::getpid()));
  }
  Status CheckDay(BusinessDate date) const {
    if (date != day_) return InvalidArgument("shard: a row of " + date.ToString());
    return Status::Ok();
  }
  Status EnterSection(Section section) {
    if (section < section_) {
      return FailedPrecondition(
          "shard: rows come as transactions, then totals, then conflicts (the reader depends "
          "on it)");
    }
    section_ = section;
    return Status::Ok();
  }
  Status MaybeFlush() {
    if (buffer_.size() < kWriteChunkBytes) return Status::Ok();
    return Flush();
  }
  Status Flush() {
    FH_RETURN_IF_ERROR(WriteAll(fd_.get(), buffer_));
    EVP_DigestUpdate(sha_, buffer_.data(), buffer_.size());
    rows_bytes_ += static_cast<std::int64_t>(buffer_.size());
    buffer_.clear();
    return Status::Ok();
  }

  fs::path dir_;
  BusinessDate day_;
  ShardSpec shard_;
  EVP_MD_CTX* sha_;  // of the rows file's bytes, as written
  std::int64_t rows_bytes_ = 0;
  Section section_ = Section::kTransactions;
  FileDescriptor fd_;
  std::string buffer_;
  bool committed_ = false;
};

class ShardWarehouse : public warehouse::Warehouse {
 public:
  ShardWarehouse(warehouse::Warehouse* base, fs::path dir, ShardSpec shard)
      : base_(base), dir_(std::move(dir)), shard_(shard) {}

  Result<std::unique_ptr<warehouse::DayWriter>> BeginDay(BusinessDate day) override {
    auto writer = std::make_unique<ShardFileWriter>(dir_, day, shard_);
    FH_RETURN_IF_ERROR(writer->Begin());
    return std::unique_ptr<warehouse::DayWriter>(std::move(writer));
  }
  Result<std::vector<TotalRow>> ReadTotals(BusinessDate day) override {
    return base_->ReadTotals(day);
  }
  Result<std::vector<ConflictRow>> ReadConflicts(BusinessDate day) override {
    return base_->ReadConflicts(day);
  }
  Status ForEachTransaction(BusinessDate day,
                            const std::function<bool(const TransactionRow&)>& visit) override {
    return base_->ForEachTransaction(day, visit);
  }
  Result<std::optional<RunRecord>> LatestRun(BusinessDate day) override {
    return base_->LatestRun(day);
  }
  Result<std::vector<warehouse::DaySummary>> Days() override { return base_->Days(); }
  Result<std::vector<RunFile>> RunFiles(std::int64_t run_id) override {
    return base_->RunFiles(run_id);
  }
  Result<std::vector<Finding>> FindingsAbout(BusinessDate day, std::int64_t after_run) override {
    return base_->FindingsAbout(day, after_run);
  }
  Result<std::unique_ptr<warehouse::BookingLookup>> OpenLookup(BusinessDate day) override {
    return base_->OpenLookup(day);
  }
  Result<std::unique_ptr<warehouse::KeyCursor>> OpenKeyCursor(BusinessDate day) override {
    return base_->OpenKeyCursor(day);
  }
  Result<std::vector<warehouse::DoubleBooking>> DoubleBookings() override {
    return base_->DoubleBookings();
  }
  // Days go to shard files (a 1 MiB write buffer); lookups to the base warehouse.
  Status SetCacheBytes(CacheBytes bytes) override {
    return base_->SetCacheBytes({.writer = 0, .lookup = bytes.lookup});
  }
  CacheBytes ResidentBytesMax() const override {
    return {.writer = 2 * static_cast<std::int64_t>(kWriteChunkBytes),
            .lookup = base_->ResidentBytesMax().lookup};
  }

 private:
  warehouse::Warehouse* base_;
  fs::path dir_;
  ShardSpec shard_;
};

Result<TransactionRow> ParseTransaction(const std::vector<std::string>& f, BusinessDate day) {
  TransactionRow row;
  row.business_date = day;
  row.partner_id = f[1];
  row.txn_id = f[2];
  FH_ASSIGN_OR_RETURN(const std::int64_t amount, ToInt(f[3]));
  row.amount = AmountMinor(amount);
  row.currency = f[4];
  FH_ASSIGN_OR_RETURN(row.status, ToStatus(f[5]));
  FH_ASSIGN_OR_RETURN(const std::int64_t event_time, ToInt(f[6]));
  row.event_time = TimestampUs(event_time);
  if (f[7] != "-") {
    FH_ASSIGN_OR_RETURN(const std::int64_t version, ToInt(f[7]));
    row.version = version;
  }
  FH_ASSIGN_OR_RETURN(row.versions, ToInt(f[8]));
  row.conflict = f[9] == "1";
  FH_ASSIGN_OR_RETURN(row.source_file, ToInt(f[10]));
  FH_ASSIGN_OR_RETURN(row.source_line, ToInt(f[11]));
  return row;
}

Result<TotalRow> ParseTotal(const std::vector<std::string>& f, BusinessDate day) {
  TotalRow row;
  row.business_date = day;
  row.partner_id = f[1];
  row.currency = f[2];
  FH_ASSIGN_OR_RETURN(row.status, ToStatus(f[3]));
  FH_ASSIGN_OR_RETURN(row.txn_count, ToInt(f[4]));
  FH_ASSIGN_OR_RETURN(const std::int64_t amount, ToInt(f[5]));
  row.amount = AmountMinor(amount);
  return row;
}

Result<ConflictRow> ParseConflict(const std::vector<std::string>& f, BusinessDate day) {
  ConflictRow row;
  row.business_date = day;
  row.partner_id = f[1];
  row.txn_id = f[2];
  FH_ASSIGN_OR_RETURN(row.versions, ToInt(f[3]));
  FH_ASSIGN_OR_RETURN(const std::int64_t amount, ToInt(f[4]));
  row.amount = AmountMinor(amount);
  row.currency = f[5];
  FH_ASSIGN_OR_RETURN(row.status, ToStatus(f[6]));
  FH_ASSIGN_OR_RETURN(const std::int64_t other_amount, ToInt(f[7]));
  row.other_amount = AmountMinor(other_amount);
  row.other_currency = f[8];
  FH_ASSIGN_OR_RETURN(row.other_status, ToStatus(f[9]));
  FH_ASSIGN_OR_RETURN(row.other_versions, ToInt(f[10]));
  return row;
}

// Fields per line kind of the rows file (the kind included).
constexpr std::size_t kTransactionFields = 12;
constexpr std::size_t kTotalFields = 6;
constexpr std::size_t kConflictFields = 11;

// One shard's manifest and its rows file, read in one pass in the order the writer wrote it:
// transactions (a merge cursor, one row at a time), then totals, then conflicts (each handed on
// as it is read). Memory: one line and one row, whatever the shard's size. Every byte read is
// hashed; Finish() refuses a rows file that is not the one the manifest was written with.
class ShardInput {
 public:
  ShardInput() : sha_(EVP_MD_CTX_new()) {}
  ~ShardInput() { EVP_MD_CTX_free(sha_); }
  ShardInput(const ShardInput&) = delete;
  ShardInput& operator=(const ShardInput&) = delete;

  ShardSpec spec;
  RunRecord run;
  std::vector<RunFile> files;
  std::vector<Finding> findings;
  std::optional<TransactionRow> head;  // the next transaction, while there is one

  // Opens the rows file the manifest names (`rows_bytes` and `rows_sha256` from the manifest)
  // and reads the first transaction. A file of another size is refused here, before anything
  // is written to the warehouse.
  Status Open(const fs::path& dir, std::string rows_name, std::int64_t rows_bytes,
              std::string rows_sha256, BusinessDate day) {
    path_ = (dir / rows_name).string();
    rows_bytes_ = rows_bytes;
    rows_sha256_ = std::move(rows_sha256);
    if (sha_ == nullptr || EVP_DigestInit_ex(sha_, EVP_sha256(), nullptr) != 1) {
      return Internal("shard: SHA-256 initialisation failed");
    }
    std::error_code error;
    const std::uintmax_t size = fs::file_size(path_, error);
    if (error) return NotFound("shard rows file " + path_ + " is missing: " + error.message());
    if (size != static_cast<std::uintmax_t>(rows_bytes_)) {
      return Mismatch(std::to_string(size) + " bytes, its manifest says " +
                      std::to_string(rows_bytes_));
    }
    rows_.open(path_);
    if (!rows_) return NotFound("shard rows file " + path_ + " cannot be opened");
    return Advance(day);
  }

  // The next transaction into `head`; none once the transactions end.
  Status Advance(BusinessDate day) {
    head.reset();
    FH_ASSIGN_OR_RETURN(const char kind, PeekKind());
    if (kind != 'T') return Status::Ok();
    FH_ASSIGN_OR_RETURN(const std::vector<std::string> fields, TakeFields(kTransactionFields));
    FH_ASSIGN_OR_RETURN(head, ParseTransaction(fields, day));
    return Status::Ok();
  }

  // The shard's totals, after its transactions.
  Status ForEachTotal(BusinessDate day, const std::function<Status(const TotalRow&)>& visit) {
    if (head) return FailedPrecondition("shard: totals read before the last transaction");
    while (true) {
      FH_ASSIGN_OR_RETURN(const char kind, PeekKind());
      if (kind != 'S') return Status::Ok();
      FH_ASSIGN_OR_RETURN(const std::vector<std::string> fields, TakeFields(kTotalFields));
      FH_ASSIGN_OR_RETURN(const TotalRow row, ParseTotal(fields, day));
      FH_RETURN_IF_ERROR(visit(row));
    }
  }

  // The shard's conflicts, after its totals.
  Status ForEachConflict(BusinessDate day, const std::function<Status(const ConflictRow&)>& visit) {
    while (true) {
      FH_ASSIGN_OR_RETURN(const char kind, PeekKind());
      if (kind != 'C') return Status::Ok();
      FH_ASSIGN_OR_RETURN(const std::vector<std::string> fields, TakeFields(kConflictFields));
      FH_ASSIGN_OR_RETURN(const ConflictRow row, ParseConflict(fields, day));
      FH_RETURN_IF_ERROR(visit(row));
    }
  }

  // After the conflicts: the file must end here, and be the manifest's byte for byte.
  Status Finish() {
    FH_ASSIGN_OR_RETURN(const char kind, PeekKind());
    if (kind != kEnd) {
      return DataLoss("shard file " + path_ +
                      ": a line out of place (rows come as transactions, totals, conflicts)");
    }
    const std::string sha256 = FinalDigestHex(sha_);
    if (bytes_read_ != rows_bytes_ || sha256 != rows_sha256_) {
      return Mismatch("SHA-256 " + sha256 + ", its manifest says " + rows_sha256_);
    }
    return Status::Ok();
  }

 private:
  static constexpr char kEnd = '\0';

  // The next line's kind ('T', 'S', 'C'; kEnd at the end of the file), leaving it unread.
  Result<char> PeekKind() {
    if (!has_line_) {
      if (!std::getline(rows_, line_)) {
        if (rows_.bad()) return DataLoss("shard file " + path_ + ": read error");
        return kEnd;
      }
      EVP_DigestUpdate(sha_, line_.data(), line_.size());
      EVP_DigestUpdate(sha_, "\n", 1);
      bytes_read_ += static_cast<std::int64_t>(line_.size()) + 1;
      has_line_ = true;
    }
    return line_.empty() ? '?' : line_[0];
  }
  Result<std::vector<std::string>> TakeFields(std::size_t count) {
    has_line_ = false;
    std::vector<std::string> fields = SplitFields(line_);
    if (fields.size() != count || fields[0].size() != 1) {
      return DataLoss("shard file " + path_ + ": a malformed line");
    }
    return fields;
  }
  // The rows file is not the one the manifest describes: another run of the shard replaced it
  // (two runs of one shard at once), or it was damaged. Only a new run of the shard fixes that.
  Status Mismatch(const std::string& what) const {
    const std::string shard = std::to_string(spec.index) + " of " + std::to_string(spec.count);
    return FailedPrecondition("shard " + shard + ": its rows file " + path_ + " has " + what +
                              ": it is not the rows file of that manifest (another run of the "
                              "shard replaced it, or it is damaged); re-run shard " +
                              shard);
  }

  std::string path_;
  std::int64_t rows_bytes_ = 0;
  std::string rows_sha256_;
  std::ifstream rows_;
  std::string line_;
  bool has_line_ = false;  // line_ is read (and hashed) but not yet taken
  std::int64_t bytes_read_ = 0;
  EVP_MD_CTX* sha_;
};

Result<std::unique_ptr<ShardInput>> LoadShard(const fs::path& dir, ShardSpec spec,
                                              BusinessDate day) {
  auto shard = std::make_unique<ShardInput>();
  shard->spec = spec;
  const fs::path manifest_path = dir / ManifestName(spec);
  FH_ASSIGN_OR_RETURN(const std::string text, ReadFile(manifest_path, 1 << 30));
  const json manifest = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (manifest.is_discarded())
    return DataLoss("shard manifest " + manifest_path.string() + " is not JSON");
  std::string rows_name;
  std::int64_t rows_bytes = 0;
  std::string rows_sha256;
  try {
    if (!manifest.contains("rows")) {
      return FailedPrecondition("shard manifest " + manifest_path.string() +
                                " names no rows file (an older firehose wrote it): re-run shard " +
                                std::to_string(spec.index) + " of " + std::to_string(spec.count));
    }
    const json& rows = manifest.at("rows");
    rows_name = rows.at("file").get<std::string>();
    rows_bytes = JsonGet<std::int64_t>(rows.at("bytes"));
    rows_sha256 = rows.at("sha256").get<std::string>();
    FH_ASSIGN_OR_RETURN(shard->run, RunFromJson(manifest.at("run")));
    for (const json& file : manifest.at("files")) {
      RunFile run_file;
      run_file.index = JsonGet<std::int64_t>(file.at("index"));
      run_file.path = file.at("path").get<std::string>();
      FH_ASSIGN_OR_RETURN(run_file.partition_date,
                          BusinessDate::Parse(file.at("partition_date").get<std::string>()));
      run_file.bytes = JsonGet<std::uint64_t>(file.at("bytes"));
      run_file.sha256 = file.at("sha256").get<std::string>();
      run_file.lines = JsonGet<std::uint64_t>(file.at("lines"));
      shard->files.push_back(std::move(run_file));
    }
    for (const json& item : manifest.at("findings")) {
      FH_ASSIGN_OR_RETURN(Finding finding, FindingFromJson(item, day));
      shard->findings.push_back(std::move(finding));
    }
  } catch (const json::exception& error) {
    return DataLoss("shard manifest " + manifest_path.string() + ": " + error.what());
  }
  if (shard->run.business_date != day) {
    return FailedPrecondition("shard manifest " + manifest_path.string() + " is for " +
                              shard->run.business_date.ToString());
  }
  if (rows_name != RowsName(spec)) {
    return DataLoss("shard manifest " + manifest_path.string() + " names the rows file '" +
                    rows_name + "', not " + RowsName(spec));
  }
  FH_RETURN_IF_ERROR(shard->Open(dir, rows_name, rows_bytes, std::move(rows_sha256), day));
  return shard;
}

// Which shards are in `dir`: the count N they agree on, or why not.
Result<int> ShardCount(const fs::path& dir, BusinessDate day) {
  std::set<int> counts;
  std::map<int, std::set<int>> present;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    int index = 0;
    int count = 0;
    char tail[8] = {};
    if (std::sscanf(name.c_str(), "shard-%d-of-%d.%5s", &index, &count, tail) == 3 &&
        std::string_view(tail) == "json") {
      counts.insert(count);
      present[count].insert(index);
    }
  }
  if (counts.empty()) {
    return NotFound("no shards of " + day.ToString() + " in " + dir.string() +
                    " (run `ledger run --day " + day.ToString() + " --shard i/N` first)");
  }
  if (counts.size() > 1) {
    std::string list;
    for (const int count : counts) list += (list.empty() ? "" : ", ") + std::to_string(count);
    return FailedPrecondition("shards of " + day.ToString() +
                              " from runs with different shard "
                              "counts (" +
                              list + ") in " + dir.string() + ": remove the stale ones");
  }
  const int count = *counts.begin();
  std::string missing;
  for (int i = 0; i < count; ++i) {
    if (!present[count].count(i)) missing += (missing.empty() ? "" : ", ") + std::to_string(i);
  }
  if (!missing.empty()) {
    return FailedPrecondition("shard(s) " + missing + " of " + std::to_string(count) + " of " +
                              day.ToString() + " are not there yet");
  }
  return count;
}

Status CheckConsistent(const ShardInput& first, const ShardInput& other) {
  const auto differs = [&](std::string_view what) {
    return FailedPrecondition("shard " + std::to_string(other.spec.index) + " ran with another " +
                              std::string(what) +
                              " than shard 0 (the lake or the config "
                              "changed between them): re-run it");
  };
  if (other.files != first.files) return differs("input file set");
  if (other.run.partitions != first.run.partitions) return differs("partition count");
  if (other.run.dedup_window_days != first.run.dedup_window_days) return differs("window");
  if (other.run.timezone != first.run.timezone) return differs("time zone");
  return Status::Ok();
}

bool KeyLess(const TransactionRow& a, const TransactionRow& b) {
  return std::tie(a.partner_id, a.txn_id) < std::tie(b.partner_id, b.txn_id);
}

// Every shard's transactions in (partner_id, txn_id) order into `writer` and `digest`.
Status MergeTransactions(const std::vector<std::unique_ptr<ShardInput>>& shards, BusinessDate day,
                         warehouse::DayWriter* writer, Digest* digest) {
  const TransactionRow* previous = nullptr;
  TransactionRow last;
  while (true) {
    ShardInput* next = nullptr;
    for (const auto& shard : shards) {
      if (shard->head && (next == nullptr || KeyLess(*shard->head, *next->head))) {
        next = shard.get();
      }
    }
    if (next == nullptr) return Status::Ok();
    const TransactionRow& row = *next->head;
    if (previous != nullptr && !KeyLess(*previous, row)) {
      return DataLoss("shards: key " + row.partner_id + "/" + row.txn_id +
                      " is in two shards or out of order");
    }
    digest->Transaction(row);
    FH_RETURN_IF_ERROR(writer->AddTransaction(row));
    last = row;
    previous = &last;
    FH_RETURN_IF_ERROR(next->Advance(day));
  }
}

// The shards' totals summed per (partner, currency, status name), checked, in that order. As
// many as the day has such triples (not transactions): held in memory.
Result<std::vector<TotalRow>> SumTotals(const std::vector<std::unique_ptr<ShardInput>>& shards,
                                        BusinessDate day) {
  std::map<std::tuple<std::string, std::string, std::string>, TotalRow> totals;
  const auto add = [&](const TotalRow& row) -> Status {
    std::tuple<std::string, std::string, std::string> key{row.partner_id, row.currency,
                                                          std::string(TxnStatusName(row.status))};
    auto [at, inserted] = totals.try_emplace(std::move(key), row);
    if (inserted) return Status::Ok();
    std::int64_t amount = 0;
    if (__builtin_add_overflow(at->second.amount.value(), row.amount.value(), &amount)) {
      return OutOfRange("ledger: the total of " + row.partner_id + " " + row.currency + " " +
                        std::string(TxnStatusName(row.status)) + " on " + day.ToString() +
                        " overflows int64 minor units");
    }
    at->second.amount = AmountMinor(amount);
    at->second.txn_count += row.txn_count;
    return Status::Ok();
  };
  for (const auto& shard : shards) FH_RETURN_IF_ERROR(shard->ForEachTotal(day, add));
  std::vector<TotalRow> sums;
  sums.reserve(totals.size());
  for (auto& [key, row] : totals) sums.push_back(std::move(row));
  return sums;
}

// The shards' findings as one run's: per (kind, day, other day), the keys summed (a key belongs
// to one shard) and the smallest kept, as examples and, for a double booking, as its listed keys.
std::vector<Finding> MergeFindings(const std::vector<std::unique_ptr<ShardInput>>& shards,
                                   BusinessDate day) {
  using Id = std::tuple<warehouse::FindingKind, BusinessDate, BusinessDate>;
  std::map<Id, std::pair<std::int64_t, std::set<warehouse::Key>>> merged;
  for (const auto& shard : shards) {
    for (const Finding& finding : shard->findings) {
      auto& [keys, smallest] = merged[Id{finding.kind, finding.business_date, finding.other_date}];
      keys += finding.keys;
      const json list = json::parse(finding.examples, nullptr, false);
      if (list.is_array()) {
        for (const json& example : list) {
          if (example.is_array() && example.size() == 2 && example[0].is_string() &&
              example[1].is_string()) {
            smallest.emplace(example[0].get<std::string>(), example[1].get<std::string>());
          }
        }
      }
      smallest.insert(finding.listed_keys.begin(), finding.listed_keys.end());
    }
  }
  std::vector<Finding> findings;
  for (const auto& [id, found] : merged) {
    Finding finding;
    std::tie(finding.kind, finding.business_date, finding.other_date) = id;
    finding.found_by_date = day;
    finding.keys = found.first;
    const bool listed = finding.kind != warehouse::FindingKind::kStale;
    json examples = json::array();
    for (const warehouse::Key& key : found.second) {
      const bool example = examples.size() < warehouse::kFindingExamples;
      const bool list = listed && finding.listed_keys.size() < warehouse::kFindingKeysMax;
      if (!example && !list) break;
      if (example) examples.push_back({key.first, key.second});
      if (list) finding.listed_keys.push_back(key);
    }
    finding.examples = examples.dump();
    findings.push_back(std::move(finding));
  }
  return findings;
}

}  // namespace

Result<ShardSpec> ParseShard(std::string_view text) {
  const std::size_t slash = text.find('/');
  ShardSpec spec;
  const auto parse = [](std::string_view digits, int* value) {
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), *value);
    return !digits.empty() && error == std::errc() && end == digits.data() + digits.size();
  };
  if (slash == std::string_view::npos || !parse(text.substr(0, slash), &spec.index) ||
      !parse(text.substr(slash + 1), &spec.count)) {
    return InvalidArgument("--shard wants i/N (for example 0/4), not '" + std::string(text) + "'");
  }
  if (spec.count < 1 || spec.count > kShardsMax || spec.index < 0 || spec.index >= spec.count) {
    return InvalidArgument("--shard " + std::string(text) +
                           ": need 0 <= i < N <= " + std::to_string(kShardsMax));
  }
  return spec;
}

fs::path ShardDir(const Config& config, BusinessDate day) {
  return config.data_dir / "ledger" / "shards" / day.ToString();
}

std::unique_ptr<warehouse::Warehouse> ShardOutput(warehouse::Warehouse* base, fs::path dir,
                                                  ShardSpec shard) {
  return std::make_unique<ShardWarehouse>(base, std::move(dir), shard);
}

Result<CommitResult> CommitShards(const fs::path& dir, BusinessDate day,
                                  warehouse::Warehouse* warehouse, std::int64_t memory_bytes_max) {
  const TimestampUs started = NowUs();
  FH_ASSIGN_OR_RETURN(const int count, ShardCount(dir, day));
  std::vector<std::unique_ptr<ShardInput>> shards;
  for (int i = 0; i < count; ++i) {
    FH_ASSIGN_OR_RETURN(std::unique_ptr<ShardInput> shard, LoadShard(dir, {i, count}, day));
    if (i > 0) FH_RETURN_IF_ERROR(CheckConsistent(*shards[0], *shard));
    shards.push_back(std::move(shard));
  }

  // The writer's cache a run of the same bound takes; no lookups.
  FH_RETURN_IF_ERROR(
      warehouse->SetCacheBytes(WarehouseCacheBytes(memory_bytes_max, /*looks_up=*/false)));
  FH_ASSIGN_OR_RETURN(std::unique_ptr<warehouse::DayWriter> writer, warehouse->BeginDay(day));
  Digest digest;
  FH_RETURN_IF_ERROR(MergeTransactions(shards, day, writer.get(), &digest));
  CommitResult result;
  FH_ASSIGN_OR_RETURN(result.totals, SumTotals(shards, day));
  for (const TotalRow& row : result.totals) {
    digest.Total(row);
    FH_RETURN_IF_ERROR(writer->AddTotal(row));
  }
  // Conflicts go in as each shard's file has them (a single run, too, inserts them unit by
  // unit, unsorted): the tables' primary key orders them and every reader orders by it, so
  // nothing needs them in memory to sort.
  for (const auto& shard : shards) {
    FH_RETURN_IF_ERROR(shard->ForEachConflict(
        day, [&writer](const ConflictRow& row) { return writer->AddConflict(row); }));
  }
  // Before anything is published: each rows file is the one its manifest was written with.
  for (const auto& shard : shards) FH_RETURN_IF_ERROR(shard->Finish());

  // The run: the input set and the window are the shards' (equal); the counts of keys their sums.
  RunRecord run = shards[0]->run;
  run.started_at = started;
  run.threads = 0;
  run.versions_read = run.keys_booked = run.duplicates = run.conflicts = run.spilled_bytes = 0;
  std::fill(run.partition_sizes.begin(), run.partition_sizes.end(), 0);
  json shard_timings = json::array();
  for (const auto& shard : shards) {
    run.started_at = std::min(run.started_at, shard->run.started_at);
    run.threads += shard->run.threads;
    run.versions_read += shard->run.versions_read;
    run.keys_booked += shard->run.keys_booked;
    run.duplicates += shard->run.duplicates;
    run.conflicts += shard->run.conflicts;
    run.spilled_bytes += shard->run.spilled_bytes;
    for (std::size_t p = 0; p < run.partition_sizes.size() && p < shard->run.partition_sizes.size();
         ++p) {
      run.partition_sizes[p] += shard->run.partition_sizes[p];
    }
    shard_timings.push_back(json::parse(shard->run.timings_json, nullptr, false));
  }
  run.digest = digest.Finish();
  run.finished_at = NowUs();
  run.timings_json = json{
      {"shards", count},
      {"commit_ms", (run.finished_at.value() - started.value()) / 1000},
      {"shard_timings",
       shard_timings}}.dump();

  result.findings = MergeFindings(shards, day);

  FH_ASSIGN_OR_RETURN(run.run_id, writer->Commit(run, shards[0]->files, result.findings));
  for (Finding& finding : result.findings) finding.found_by_run = run.run_id;
  result.shards = count;
  result.run = std::move(run);
  // Published: the shard files have served (a crash before this only leaves them for a
  // harmless re-commit of the same day). The manifest first: a rows file alone is no shard.
  for (int i = 0; i < count; ++i) {
    std::error_code error;
    fs::remove(dir / ManifestName({i, count}), error);
    fs::remove(dir / RowsName({i, count}), error);
  }
  return result;
}

}  // namespace firehose::ledger
