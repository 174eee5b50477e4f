// What landed in a data directory's lake, read back through the lake's own reader, for tests
// that check "every acknowledged arrival / every served item is there, exactly once".
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace firehose::testing {

struct LakeContents {
  // Event indexes per arrival id, every line (a repeat means the arrival landed twice).
  std::map<std::string, std::multiset<std::int64_t>> raw_by_arrival;
  std::map<std::string, std::multiset<std::int64_t>> quarantine_by_arrival;
  // txn_id of every raw line, per partner (a repeat is a copy the ledger removes).
  std::map<std::string, std::multiset<std::string>> txn_ids_by_partner;
  // Raw lines per (event date "YYYY-MM-DD", partner).
  std::map<std::pair<std::string, std::string>, std::int64_t> raw_lines_by_date_partner;
  std::map<std::string, std::int64_t> quarantine_lines_by_partner;
  std::int64_t raw_lines = 0;
  std::int64_t quarantine_lines = 0;
  // What could not be read: listing problems, files that would not open, lines that would not
  // parse. While a writer runs, a file its manifest lists may still be on its way into place.
  std::vector<std::string> problems;
};

// Every readable line of the lake; an absent lake is empty. Safe while a writer runs: what it
// is publishing at that moment shows up in `problems`, not as a failure.
LakeContents ScanLake(const std::filesystem::path& data_dir);
// ScanLake for a lake no writer is publishing to: every problem fails the test (EXPECT).
LakeContents ReadLake(const std::filesystem::path& data_dir);

}  // namespace firehose::testing
