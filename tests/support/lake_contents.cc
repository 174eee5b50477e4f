#include "support/lake_contents.h"

#include <gtest/gtest.h>

#include "lake/lake_line.h"
#include "lake/lake_reader.h"

namespace firehose::testing {

LakeContents ReadLake(const std::filesystem::path& data_dir) {
  LakeContents contents;
  if (!std::filesystem::exists(lake::LakeRoot(data_dir))) return contents;
  auto listing = lake::ListLake(lake::LakeRoot(data_dir));
  EXPECT_TRUE(listing.ok()) << listing.status().ToString();
  if (!listing.ok()) return contents;
  EXPECT_TRUE(listing->problems.empty()) << listing->problems.front().message;
  lake::RawLineParser parser(/*with_raw=*/false);
  for (const lake::LakeFile& file : listing->Files(lake::Zone::kRaw)) {
    auto reader = lake::LineReader::Open(lake::LakeRoot(data_dir) / file.file.path);
    EXPECT_TRUE(reader.ok()) << file.file.path;
    std::string_view line;
    while (reader.ok() && (*reader)->Next(&line).value()) {
      lake::RawLineView view;
      const Status parsed = parser.ParsePadded(line, &view);
      EXPECT_TRUE(parsed.ok()) << file.file.path << ": " << parsed.ToString();
      if (!parsed.ok()) continue;
      contents.raw_by_arrival[std::string(view.arrival_id)].insert(view.event_index);
      contents.txn_ids_by_partner[std::string(view.partner_id)].insert(std::string(view.txn_id));
      ++contents.raw_lines_by_date_partner[{std::string(view.event_date),
                                            std::string(view.partner_id)}];
      ++contents.raw_lines;
    }
  }
  for (const lake::LakeFile& file : listing->Files(lake::Zone::kQuarantine)) {
    auto reader = lake::LineReader::Open(lake::LakeRoot(data_dir) / file.file.path);
    EXPECT_TRUE(reader.ok()) << file.file.path;
    std::string_view line;
    while (reader.ok() && (*reader)->Next(&line).value()) {
      auto parsed = lake::ParseQuarantineLine(line);
      EXPECT_TRUE(parsed.ok()) << file.file.path << ": " << parsed.status().ToString();
      if (!parsed.ok()) continue;
      contents.quarantine_by_arrival[parsed->arrival_id].insert(parsed->event_index);
      ++contents.quarantine_lines_by_partner[parsed->partner_id];
      ++contents.quarantine_lines;
    }
  }
  return contents;
}

}  // namespace firehose::testing
