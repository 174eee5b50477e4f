// What landed in a data directory's lake, read back through the lake's own reader, for tests
// that check "every acknowledged arrival / every served item is there, exactly once".
// Reads published files only, so it is safe while a writer runs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>

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
};

// Fails the test (EXPECT) if the lake cannot be listed, lists a problem, or a line does not
// parse. An absent lake is empty.
LakeContents ReadLake(const std::filesystem::path& data_dir);

}  // namespace firehose::testing
