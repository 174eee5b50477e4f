// `lake verify`: proves that the lake is what its manifests say it is.
//
// Checks, each reported as a LakeProblem with its own kind:
//  - every manifest reads and matches its file name; no two manifests of one writer overlap in
//    offsets ("overlap": a range published twice would land records twice);
//  - every listed file is in place under the name its range gives it ("file_name_mismatch",
//    "file_missing", "file_pending"), with the manifest's size and SHA-256 ("size_mismatch",
//    "checksum_mismatch");
//  - it decompresses fully ("corrupt_file"); every line parses ("bad_line"), belongs to the
//    file's partition ("wrong_partition") and to the manifest's offset range
//    ("offset_out_of_range"); line counts, sizes and time ranges match ("line_count_mismatch",
//    "time_range_mismatch", "count_mismatch");
//  - no data file is in a partition without a manifest ("file_unlisted").
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "lake/lake_reader.h"

namespace firehose::lake {

struct VerifyOptions {
  std::optional<BusinessDate>
      date;  // only read the files of this date (listing checks stay global)
  std::size_t line_problems_max_per_file = 10;  // then one "and N more" problem
  // Called after each file is read (progress on long runs); may be empty.
  std::function<void(const LakeFile&)> on_file;
};

struct VerifyReport {
  std::vector<LakeProblem> problems;
  std::uint64_t manifests = 0;
  std::uint64_t files = 0;
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;  // compressed bytes read
  bool ok() const { return problems.empty(); }
};

// A Status only when the lake cannot be listed at all (I/O error on a directory).
Result<VerifyReport> VerifyLake(const std::filesystem::path& lake_root,
                                const VerifyOptions& options);

}  // namespace firehose::lake
