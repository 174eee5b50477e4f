#include "support/lake_contents.h"

#include <gtest/gtest.h>

#include "lake/lake_line.h"
#include "lake/lake_reader.h"

namespace firehose::testing {

namespace {

// Calls `on_line` for every line of the zone's files; a file that cannot be opened or read is a
// problem, and so is a line that `on_line` refuses.
template <typename OnLine>
void ScanZone(const std::filesystem::path& root, const lake::LakeListing& listing, lake::Zone zone,
              LakeContents* contents, OnLine on_line) {
  for (const lake::LakeFile& file : listing.Files(zone)) {
    auto reader = lake::LineReader::Open(root / file.file.path);
    if (!reader.ok()) {
      contents->problems.push_back(file.file.path + ": " + reader.status().ToString());
      continue;
    }
    std::string_view line;
    while (true) {
      Result<bool> more = (*reader)->Next(&line);
      if (!more.ok()) {
        contents->problems.push_back(file.file.path + ": " + more.status().ToString());
        break;
      }
      if (!*more) break;
      const Status parsed = on_line(line);
      if (!parsed.ok()) contents->problems.push_back(file.file.path + ": " + parsed.ToString());
    }
  }
}

}  // namespace

LakeContents ScanLake(const std::filesystem::path& data_dir) {
  LakeContents contents;
  const std::filesystem::path root = lake::LakeRoot(data_dir);
  if (!std::filesystem::exists(root)) return contents;
  auto listing = lake::ListLake(root);
  if (!listing.ok()) {
    contents.problems.push_back(listing.status().ToString());
    return contents;
  }
  for (const auto& problem : listing->problems) contents.problems.push_back(problem.message);
  lake::RawLineParser parser(/*with_raw=*/false);
  ScanZone(root, *listing, lake::Zone::kRaw, &contents, [&](std::string_view line) {
    lake::RawLineView view;
    FH_RETURN_IF_ERROR(parser.ParsePadded(line, &view));
    contents.raw_by_arrival[std::string(view.arrival_id)].insert(view.event_index);
    contents.txn_ids_by_partner[std::string(view.partner_id)].insert(std::string(view.txn_id));
    ++contents
          .raw_lines_by_date_partner[{std::string(view.event_date), std::string(view.partner_id)}];
    ++contents.raw_lines;
    return Status::Ok();
  });
  ScanZone(root, *listing, lake::Zone::kQuarantine, &contents, [&](std::string_view line) {
    FH_ASSIGN_OR_RETURN(lake::QuarantineLine parsed, lake::ParseQuarantineLine(line));
    contents.quarantine_by_arrival[parsed.arrival_id].insert(parsed.event_index);
    ++contents.quarantine_lines_by_partner[parsed.partner_id];
    ++contents.quarantine_lines;
    return Status::Ok();
  });
  return contents;
}

LakeContents ReadLake(const std::filesystem::path& data_dir) {
  LakeContents contents = ScanLake(data_dir);
  for (const std::string& problem : contents.problems) ADD_FAILURE() << "lake: " << problem;
  return contents;
}

}  // namespace firehose::testing
