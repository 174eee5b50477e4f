// Reading the lake: what is in it (from the manifests, cross-checked against the directory
// tree) and the lines of one file (streaming zstd decompression, bounded memory).
//
// Readers never look at _tmp/: a file exists for them once it is renamed into its partition,
// and a file listed by no manifest is reported, not read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "lake/lake_format.h"
#include "lake/lake_manifest.h"

namespace firehose::lake {

// Streams the lines of one lake file. Memory: one compressed input block (~128 KiB) and a
// line buffer that grows to the longest line seen (at most `line_bytes_max`). Not thread-safe.
class LineReader {
 public:
  struct Options {
    std::size_t line_bytes_max = kLineBytesMax;
    bool compute_sha256 = false;  // hash the compressed bytes as they are read (verify)
  };

  static Result<std::unique_ptr<LineReader>> Open(const std::filesystem::path& path,
                                                  Options options);
  static Result<std::unique_ptr<LineReader>> Open(const std::filesystem::path& path) {
    return Open(path, Options{});
  }
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Sets `line` to the next line (without its '\n') and returns true, or returns false at the
  // end of the file. The view is valid until the next call, and kLinePaddingBytes readable
  // bytes follow it (RawLineParser::ParsePadded can parse it in place). DataLoss when the file
  // is not zstd, is truncated, has a last line without '\n', or a line over line_bytes_max.
  Result<bool> Next(std::string_view* line);

  std::uint64_t lines() const { return lines_; }
  std::uint64_t compressed_bytes() const { return compressed_bytes_; }
  std::uint64_t uncompressed_bytes() const { return uncompressed_bytes_; }
  // Lower-case hex SHA-256 of the compressed bytes; only after Next returned false, and only
  // with Options::compute_sha256.
  std::string Sha256Hex() const;

 private:
  struct State;
  LineReader(std::unique_ptr<State> state);
  Status Refill();

  std::unique_ptr<State> state_;
  std::uint64_t lines_ = 0;
  std::uint64_t compressed_bytes_ = 0;
  std::uint64_t uncompressed_bytes_ = 0;
};

// One published data file, as its manifest describes it.
struct LakeFile {
  std::string writer;
  QueueOffset first;
  QueueOffset last;
  ManifestFile file;
};

// Something wrong with the lake, found by listing or verifying it.
struct LakeProblem {
  std::string kind;     // stable snake_case code: "file_missing", "checksum_mismatch", ...
  std::string path;     // relative to the lake root
  std::string message;  // for humans: what was expected and what was found
};

struct LakeListing {
  std::vector<Manifest> manifests;  // sorted by (writer, first offset)
  // Problems found while listing: unreadable manifests ("manifest_unreadable",
  // "manifest_name_mismatch"), listed files missing ("file_missing", or "file_pending" while
  // still in _tmp), data files no manifest lists ("file_unlisted"), and entries that do not
  // belong in a zone ("unexpected_entry").
  std::vector<LakeProblem> problems;
  // Data files in a partition that no manifest lists (relative to the lake root).
  std::vector<std::string> unlisted_files;
  // Files a manifest lists that are not in their partition (relative to the lake root).
  std::vector<std::string> missing_files;

  // Published files of `zone` (every date, or only `date`), sorted by (date, path).
  std::vector<LakeFile> Files(Zone zone, std::optional<BusinessDate> date = std::nullopt) const;
};

// Reads every writer's manifests and walks the zones' partitions. An absent lake is an empty
// listing; an I/O error reading a directory is a Status.
Result<LakeListing> ListLake(const std::filesystem::path& lake_root);

}  // namespace firehose::lake
