#include "lake/lake_verify.h"

#include <algorithm>
#include <map>

#include "lake/lake_line.h"

namespace firehose::lake {

namespace fs = std::filesystem;

namespace {

// Reads one file and checks every line against its manifest entry.
class FileChecker {
 public:
  FileChecker(const fs::path& lake_root, const LakeFile& file, const VerifyOptions& options,
              VerifyReport* report)
      : lake_root_(lake_root), file_(file), options_(options), report_(report) {}

  // The number of lines read (0 when the file could not be read).
  std::uint64_t Check() {
    const ManifestFile& entry = file_.file;
    const std::string expected =
        PartFilePath(entry.zone, entry.date, file_.writer, file_.first, file_.last);
    if (entry.path != expected) {
      Problem("file_name_mismatch", "its manifest's range names it " + expected);
    }
    std::error_code error;
    const auto size = fs::file_size(lake_root_ / entry.path, error);
    if (error) return 0;  // missing: already reported by the listing
    if (size != entry.bytes) {
      Problem("size_mismatch", "has " + std::to_string(size) + " bytes, its manifest says " +
                                   std::to_string(entry.bytes));
    }
    auto reader = LineReader::Open(lake_root_ / entry.path, {.compute_sha256 = true});
    if (!reader.ok()) {
      Problem("corrupt_file", reader.status().message());
      return 0;
    }
    if (!ReadLines(**reader)) return (*reader)->lines();
    if ((*reader)->Sha256Hex() != entry.sha256) {
      Problem("checksum_mismatch",
              "SHA-256 " + (*reader)->Sha256Hex() + ", its manifest says " + entry.sha256);
    }
    if ((*reader)->lines() != entry.lines) {
      Problem("line_count_mismatch", std::to_string((*reader)->lines()) +
                                         " lines, its manifest says " +
                                         std::to_string(entry.lines));
    }
    if ((*reader)->uncompressed_bytes() != entry.uncompressed_bytes) {
      Problem("size_mismatch", std::to_string((*reader)->uncompressed_bytes()) +
                                   " uncompressed bytes, its manifest says " +
                                   std::to_string(entry.uncompressed_bytes));
    }
    if (entry.lines > 0 &&
        (min_time_ != entry.min_time.value() || max_time_ != entry.max_time.value())) {
      Problem("time_range_mismatch", "lines span " + std::to_string(min_time_) + ".." +
                                         std::to_string(max_time_) + " us, its manifest says " +
                                         std::to_string(entry.min_time.value()) + ".." +
                                         std::to_string(entry.max_time.value()));
    }
    report_->bytes += (*reader)->compressed_bytes();
    return (*reader)->lines();
  }

 private:
  // False when the file could not be read to its end.
  bool ReadLines(LineReader& reader) {
    const std::string partition_date = file_.file.date.ToString();
    std::string_view line;
    while (true) {
      Result<bool> more = reader.Next(&line);
      if (!more.ok()) {
        Problem("corrupt_file", more.status().message());
        return false;
      }
      if (!*more) return true;
      CheckLine(line, reader.lines(), partition_date);
    }
  }

  void CheckLine(std::string_view line, std::uint64_t number, const std::string& partition_date) {
    std::string_view date;
    std::uint64_t offset = 0;
    std::int64_t time_us = 0;
    if (file_.file.zone == Zone::kRaw) {
      RawLineView view;
      Status status = parser_.ParsePadded(line, &view);
      if (status.ok()) status = ToCanonicalEvent(view).status();
      if (!status.ok()) return LineProblem("bad_line", number, status.message());
      date = view.event_date;
      offset = view.queue_offset;
      time_us = view.event_time_us;
    } else {
      Result<QuarantineLine> parsed = ParseQuarantineLine(line);
      if (!parsed.ok()) return LineProblem("bad_line", number, parsed.status().message());
      quarantine_date_ = parsed->arrival_date;
      date = quarantine_date_;
      offset = parsed->queue_offset;
      time_us = parsed->received_at_us;
    }
    if (date != partition_date) {
      LineProblem("wrong_partition", number,
                  "date " + std::string(date) + " in the partition of " + partition_date);
    }
    if (offset < file_.first.value() || offset > file_.last.value()) {
      LineProblem("offset_out_of_range", number,
                  "queue_offset " + std::to_string(offset) + " outside the manifest's range " +
                      std::to_string(file_.first.value()) + "-" +
                      std::to_string(file_.last.value()));
    }
    min_time_ = std::min(min_time_, time_us);
    max_time_ = std::max(max_time_, time_us);
  }

  void Problem(std::string kind, std::string message) {
    report_->problems.push_back({std::move(kind), file_.file.path, std::move(message)});
  }

  void LineProblem(std::string kind, std::uint64_t number, const std::string& message) {
    ++line_problems_;
    if (line_problems_ > options_.line_problems_max_per_file) {
      if (line_problems_ == options_.line_problems_max_per_file + 1) {
        Problem("bad_line", "more line problems in this file are not listed");
      }
      return;
    }
    Problem(std::move(kind), "line " + std::to_string(number) + ": " + message);
  }

  const fs::path& lake_root_;
  const LakeFile& file_;
  const VerifyOptions& options_;
  VerifyReport* report_;
  RawLineParser parser_{/*with_raw=*/true};
  std::string quarantine_date_;
  std::size_t line_problems_ = 0;
  std::int64_t min_time_ = INT64_MAX;
  std::int64_t max_time_ = INT64_MIN;
};

void CheckOverlaps(const LakeListing& listing, VerifyReport* report) {
  std::map<std::string, std::vector<const Manifest*>> by_writer;
  for (const Manifest& manifest : listing.manifests)
    by_writer[manifest.writer].push_back(&manifest);
  for (auto& [writer, manifests] : by_writer) {
    std::sort(manifests.begin(), manifests.end(),
              [](const Manifest* a, const Manifest* b) { return a->first < b->first; });
    for (std::size_t i = 1; i < manifests.size(); ++i) {
      const Manifest& before = *manifests[i - 1];
      const Manifest& after = *manifests[i];
      if (after.first > before.last) continue;
      report->problems.push_back({"overlap", ManifestPath(writer, after.first, after.last),
                                  "offsets " + std::to_string(after.first.value()) + "-" +
                                      std::to_string(after.last.value()) + " overlap " +
                                      ManifestPath(writer, before.first, before.last) +
                                      ": those records are published twice"});
    }
  }
}

void CheckCounts(const Manifest& manifest, VerifyReport* report) {
  std::uint64_t events = 0;
  std::uint64_t quarantined = 0;
  for (const ManifestFile& file : manifest.files) {
    (file.zone == Zone::kRaw ? events : quarantined) += file.lines;
  }
  if (events == manifest.events && quarantined == manifest.quarantined) return;
  report->problems.push_back(
      {"count_mismatch", ManifestPath(manifest.writer, manifest.first, manifest.last),
       "its files hold " + std::to_string(events) + " events and " + std::to_string(quarantined) +
           " quarantined parts, it says " + std::to_string(manifest.events) + " and " +
           std::to_string(manifest.quarantined)});
}

}  // namespace

Result<VerifyReport> VerifyLake(const fs::path& lake_root, const VerifyOptions& options) {
  FH_ASSIGN_OR_RETURN(const LakeListing listing, ListLake(lake_root));
  VerifyReport report;
  report.problems = listing.problems;
  report.manifests = listing.manifests.size();
  CheckOverlaps(listing, &report);
  for (const Manifest& manifest : listing.manifests) CheckCounts(manifest, &report);
  for (const Zone zone : {Zone::kRaw, Zone::kQuarantine}) {
    for (const LakeFile& file : listing.Files(zone, options.date)) {
      report.lines += FileChecker(lake_root, file, options, &report).Check();
      ++report.files;
      if (options.on_file) options.on_file(file);
    }
  }
  return report;
}

}  // namespace firehose::lake
