// `firehose lake ls|verify|cat` and `firehose quarantine ls|show`: looking into the raw lake
// without writing to it. Every command reads the manifests first; a file is never read unless a
// manifest lists it.
#include <simdjson.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "core/time.h"
#include "lake/lake_line.h"
#include "lake/lake_reader.h"
#include "lake/lake_verify.h"

namespace firehose::cli {

namespace {

namespace fs = std::filesystem;
using lake::LakeFile;
using lake::LakeListing;
using lake::LakeProblem;
using lake::LineReader;
using lake::Zone;

// Options shared by the commands of this file; they live as long as the CLI::App.
struct LakeOptions {
  std::string data_dir;
  std::string date;
  std::string partner;
  bool quarantine = false;
  std::string arrival_id;
  bool raw = false;
  std::optional<std::int64_t> event_index;
};

void AddCommonOptions(CLI::App* command, LakeOptions* options, Context& context) {
  command->add_option("--data-dir", options->data_dir,
                      "The data directory (default: data_dir of --config)");
  // Also accepted after the subcommand, where people type it.
  command->add_flag("--json", context.json, "Machine-readable JSON output on stdout");
}

Result<fs::path> LakeRootOf(const Context& context, const LakeOptions& options) {
  if (!options.data_dir.empty()) return lake::LakeRoot(options.data_dir);
  if (context.config_path.empty()) {
    return InvalidArgument("say where the lake is: --data-dir DIR or --config FILE");
  }
  Result<Config> config = LoadConfig(context);
  // A config that does not load is "could not run" (exit 3), not a usage error.
  if (!config.ok()) return Status(StatusCode::kFailedPrecondition, config.status().message());
  return lake::LakeRoot(config->data_dir);
}

Result<std::optional<BusinessDate>> DateFilter(const LakeOptions& options) {
  if (options.date.empty()) return std::optional<BusinessDate>();
  Result<BusinessDate> date = BusinessDate::Parse(options.date);
  if (!date.ok()) return InvalidArgument("--date '" + options.date + "' is not YYYY-MM-DD");
  return std::optional<BusinessDate>(*date);
}

int ExitFor(const Status& status) {
  if (status.code() == StatusCode::kInvalidArgument) {
    std::fprintf(stderr, "firehose: %s\n", status.message().c_str());
    return kExitUsage;
  }
  if (status.code() == StatusCode::kDataLoss) {
    std::fprintf(stderr, "firehose: %s\n", status.message().c_str());
    return kExitCheckFailed;
  }
  return Fail(status);
}

nlohmann::json ProblemJson(const LakeProblem& problem) {
  return {{"kind", problem.kind}, {"path", problem.path}, {"message", problem.message}};
}

void PrintProblems(const std::vector<LakeProblem>& problems, std::FILE* out) {
  for (const LakeProblem& problem : problems) {
    std::fprintf(out, "  %-22s %s: %s\n", problem.kind.c_str(), problem.path.c_str(),
                 problem.message.c_str());
  }
}

std::string HumanBytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, unit == 0 ? "%.0f %s" : "%.1f %s", value, kUnits[unit]);
  return buffer;
}

// --- lake ls ------------------------------------------------------------------------------

struct PartitionSummary {
  std::uint64_t files = 0;
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  std::uint64_t uncompressed_bytes = 0;
  QueueOffset first_offset{UINT64_MAX};
  QueueOffset last_offset{0};
};

int LakeLs(const Context& context, const LakeOptions& options) {
  Result<fs::path> root = LakeRootOf(context, options);
  if (!root.ok()) return ExitFor(root.status());
  Result<std::optional<BusinessDate>> date = DateFilter(options);
  if (!date.ok()) return ExitFor(date.status());
  Result<LakeListing> listing = lake::ListLake(*root);
  if (!listing.ok()) return Fail(listing.status());

  std::map<std::pair<Zone, BusinessDate>, PartitionSummary> partitions;
  PartitionSummary totals;
  std::uint64_t events = 0;
  std::uint64_t quarantined = 0;
  for (const Zone zone : {Zone::kRaw, Zone::kQuarantine}) {
    for (const LakeFile& file : listing->Files(zone, *date)) {
      for (PartitionSummary* summary : {&partitions[{zone, file.file.date}], &totals}) {
        summary->files += 1;
        summary->lines += file.file.lines;
        summary->bytes += file.file.bytes;
        summary->uncompressed_bytes += file.file.uncompressed_bytes;
        summary->first_offset = std::min(summary->first_offset, file.first);
        summary->last_offset = std::max(summary->last_offset, file.last);
      }
      (zone == Zone::kRaw ? events : quarantined) += file.file.lines;
    }
  }

  if (context.json) {
    nlohmann::json out;
    out["partitions"] = nlohmann::json::array();
    for (const auto& [key, summary] : partitions) {
      out["partitions"].push_back({{"zone", lake::ZoneName(key.first)},
                                   {"date", key.second.ToString()},
                                   {"partition", lake::PartitionName(key.first, key.second)},
                                   {"files", summary.files},
                                   {"lines", summary.lines},
                                   {"bytes", summary.bytes},
                                   {"uncompressed_bytes", summary.uncompressed_bytes},
                                   {"first_offset", summary.first_offset.value()},
                                   {"last_offset", summary.last_offset.value()}});
    }
    out["totals"] = {{"files", totals.files},
                     {"events", events},
                     {"quarantined", quarantined},
                     {"bytes", totals.bytes},
                     {"uncompressed_bytes", totals.uncompressed_bytes},
                     {"manifests", listing->manifests.size()}};
    out["problems"] = nlohmann::json::array();
    for (const LakeProblem& problem : listing->problems)
      out["problems"].push_back(ProblemJson(problem));
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }

  std::printf("%-11s %-24s %6s %12s %11s  %s\n", "zone", "partition", "files", "lines", "bytes",
              "queue offsets");
  for (const auto& [key, summary] : partitions) {
    std::printf("%-11.*s %-24s %6llu %12llu %11s  %llu-%llu\n",
                static_cast<int>(lake::ZoneName(key.first).size()),
                lake::ZoneName(key.first).data(),
                lake::PartitionName(key.first, key.second).c_str(),
                static_cast<unsigned long long>(summary.files),
                static_cast<unsigned long long>(summary.lines), HumanBytes(summary.bytes).c_str(),
                static_cast<unsigned long long>(summary.first_offset.value()),
                static_cast<unsigned long long>(summary.last_offset.value()));
  }
  std::printf(
      "total: %llu files, %llu events, %llu quarantined, %s (%s uncompressed), %zu manifests\n",
      static_cast<unsigned long long>(totals.files), static_cast<unsigned long long>(events),
      static_cast<unsigned long long>(quarantined), HumanBytes(totals.bytes).c_str(),
      HumanBytes(totals.uncompressed_bytes).c_str(), listing->manifests.size());
  if (!listing->problems.empty()) {
    std::fprintf(stderr,
                 "warning: %zu problem(s) in the lake's listing (run `firehose lake verify`):\n",
                 listing->problems.size());
    PrintProblems(listing->problems, stderr);
  }
  return kExitOk;
}

// --- lake verify --------------------------------------------------------------------------

int LakeVerify(const Context& context, const LakeOptions& options) {
  Result<fs::path> root = LakeRootOf(context, options);
  if (!root.ok()) return ExitFor(root.status());
  Result<std::optional<BusinessDate>> date = DateFilter(options);
  if (!date.ok()) return ExitFor(date.status());
  lake::VerifyOptions verify_options;
  verify_options.date = *date;
  std::uint64_t files_done = 0;
  if (::isatty(STDERR_FILENO)) {
    verify_options.on_file = [&files_done](const LakeFile& file) {
      ++files_done;
      std::fprintf(stderr, "\rverified %llu files (%s)\x1b[K",
                   static_cast<unsigned long long>(files_done), file.file.path.c_str());
    };
  }
  Result<lake::VerifyReport> report = lake::VerifyLake(*root, verify_options);
  if (files_done > 0) std::fprintf(stderr, "\r\x1b[K");
  if (!report.ok()) return Fail(report.status());

  if (context.json) {
    nlohmann::json out = {{"ok", report->ok()},     {"manifests", report->manifests},
                          {"files", report->files}, {"lines", report->lines},
                          {"bytes", report->bytes}, {"problems", nlohmann::json::array()}};
    for (const LakeProblem& problem : report->problems)
      out["problems"].push_back(ProblemJson(problem));
    std::printf("%s\n", out.dump(2).c_str());
  } else if (report->ok()) {
    std::printf("ok: %llu manifests, %llu files, %llu lines, %s verified\n",
                static_cast<unsigned long long>(report->manifests),
                static_cast<unsigned long long>(report->files),
                static_cast<unsigned long long>(report->lines), HumanBytes(report->bytes).c_str());
  } else {
    std::printf("%zu problem(s) in %s:\n", report->problems.size(), root->c_str());
    PrintProblems(report->problems, stdout);
  }
  return report->ok() ? kExitOk : kExitCheckFailed;
}

// --- lake cat -----------------------------------------------------------------------------

// Calls `visit(file, line)` for every line of the zone's files (optionally one date), in
// (date, file) order.
template <typename Visit>
Status ForEachLine(const fs::path& root, Zone zone, std::optional<BusinessDate> date,
                   Visit&& visit) {
  FH_ASSIGN_OR_RETURN(const LakeListing listing, lake::ListLake(root));
  for (const LakeFile& file : listing.Files(zone, date)) {
    Result<std::unique_ptr<LineReader>> reader = LineReader::Open(root / file.file.path);
    if (!reader.ok()) return reader.status();
    std::string_view line;
    while (true) {
      FH_ASSIGN_OR_RETURN(const bool more, (*reader)->Next(&line));
      if (!more) break;
      if (!visit(file, line)) return Status::Ok();
    }
  }
  return Status::Ok();
}

// Every line starts with {"partner_id":"<id>" (lake_line.h writes that field first, unescaped).
bool LineIsFromPartner(std::string_view line, std::string_view partner) {
  static constexpr std::string_view kPrefix = R"({"partner_id":")";
  return line.size() > kPrefix.size() + partner.size() && line.starts_with(kPrefix) &&
         line.substr(kPrefix.size(), partner.size()) == partner &&
         line[kPrefix.size() + partner.size()] == '"';
}

int LakeCat(const Context& context, const LakeOptions& options) {
  Result<fs::path> root = LakeRootOf(context, options);
  if (!root.ok()) return ExitFor(root.status());
  Result<std::optional<BusinessDate>> date = DateFilter(options);
  if (!date.ok()) return ExitFor(date.status());
  const Zone zone = options.quarantine ? Zone::kQuarantine : Zone::kRaw;
  const Status status =
      ForEachLine(*root, zone, *date, [&](const LakeFile&, std::string_view line) {
        if (!options.partner.empty() && !LineIsFromPartner(line, options.partner)) return true;
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fputc('\n', stdout);
        return !std::ferror(stdout);  // a closed pipe (| head) ends the walk
      });
  if (!status.ok()) return ExitFor(status);
  return kExitOk;
}

// --- quarantine ls / show -----------------------------------------------------------------

nlohmann::json QuarantineJson(const lake::QuarantineLine& line, const LakeFile& file) {
  return {{"arrival_id", line.arrival_id}, {"event_index", line.event_index},
          {"partner_id", line.partner_id}, {"reason", line.reason},
          {"detail", line.detail},         {"received_at", line.received_at},
          {"source", line.source},         {"queue_offset", line.queue_offset},
          {"bytes", line.raw.size()},      {"file", file.file.path}};
}

int QuarantineLs(const Context& context, const LakeOptions& options) {
  Result<fs::path> root = LakeRootOf(context, options);
  if (!root.ok()) return ExitFor(root.status());
  Result<std::optional<BusinessDate>> date = DateFilter(options);
  if (!date.ok()) return ExitFor(date.status());
  nlohmann::json rows = nlohmann::json::array();
  if (!context.json) {
    std::printf("%-26s %5s %-20s %-32s %-27s %9s\n", "arrival_id", "index", "partner", "reason",
                "received_at", "bytes");
  }
  std::uint64_t count = 0;
  const Status status = ForEachLine(
      *root, Zone::kQuarantine, *date, [&](const LakeFile& file, std::string_view line) {
        if (!options.partner.empty() && !LineIsFromPartner(line, options.partner)) return true;
        Result<lake::QuarantineLine> parsed = lake::ParseQuarantineLine(line);
        if (!parsed.ok()) {
          std::fprintf(stderr, "firehose: %s: %s\n", file.file.path.c_str(),
                       parsed.status().message().c_str());
          return true;
        }
        ++count;
        if (context.json) {
          rows.push_back(QuarantineJson(*parsed, file));
        } else {
          std::printf("%-26s %5lld %-20s %-32s %-27s %9zu\n", parsed->arrival_id.c_str(),
                      static_cast<long long>(parsed->event_index), parsed->partner_id.c_str(),
                      parsed->reason.c_str(), parsed->received_at.c_str(), parsed->raw.size());
        }
        return true;
      });
  if (!status.ok()) return ExitFor(status);
  if (context.json) {
    std::printf("%s\n", rows.dump(2).c_str());
  } else {
    std::printf("%llu quarantined part(s)\n", static_cast<unsigned long long>(count));
  }
  return kExitOk;
}

// The millisecond time inside a ULID (its first 10 Crockford base32 characters).
std::optional<TimestampUs> UlidTime(std::string_view ulid) {
  static constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  if (ulid.size() != ArrivalId::kChars) return std::nullopt;
  std::int64_t millis = 0;
  for (const char c : ulid.substr(0, 10)) {
    const std::size_t digit = kAlphabet.find(c);
    if (digit == std::string_view::npos) return std::nullopt;
    millis = millis * 32 + static_cast<std::int64_t>(digit);
  }
  return TimestampUs(millis * 1000);
}

void PrintHex(std::string_view bytes) {
  for (std::size_t row = 0; row < bytes.size(); row += 16) {
    std::printf("  %08zx  ", row);
    std::string ascii;
    for (std::size_t i = row; i < row + 16; ++i) {
      if (i < bytes.size()) {
        const auto byte = static_cast<unsigned char>(bytes[i]);
        std::printf("%02x ", byte);
        ascii.push_back(byte >= 0x20 && byte < 0x7F ? static_cast<char>(byte) : '.');
      } else {
        std::printf("   ");
      }
    }
    std::printf(" |%s|\n", ascii.c_str());
  }
}

void PrintPart(const lake::QuarantineLine& part, const std::string& file) {
  std::printf("arrival      %s\n", part.arrival_id.c_str());
  std::printf("part         %s\n",
              part.event_index < 0 ? "whole arrival"
                                   : ("batch element " + std::to_string(part.event_index)).c_str());
  std::printf("partner      %s\n", part.partner_id.c_str());
  std::printf("reason       %s\n", part.reason.c_str());
  std::printf("detail       %s\n", part.detail.c_str());
  std::printf("received_at  %s\n", part.received_at.c_str());
  std::printf("source       %s\n", part.source.c_str());
  std::printf("queue offset %llu\n", static_cast<unsigned long long>(part.queue_offset));
  std::printf("file         %s\n", file.c_str());
  const bool utf8 = simdjson::validate_utf8(part.raw.data(), part.raw.size());
  std::printf("raw          %zu bytes, %s\n", part.raw.size(),
              utf8 ? "UTF-8 text:" : "not UTF-8, hex:");
  if (utf8) {
    std::fwrite(part.raw.data(), 1, part.raw.size(), stdout);
    std::printf("\n");
  } else {
    PrintHex(part.raw);
  }
}

// The quarantined parts of one arrival. The ULID's time tells the arrival date (in any zone,
// within a day), so only three partitions are read unless the arrival is not there.
Result<std::vector<std::pair<lake::QuarantineLine, std::string>>> FindArrival(
    const fs::path& root, const std::string& arrival_id) {
  std::vector<std::pair<lake::QuarantineLine, std::string>> found;
  const auto search = [&](std::optional<BusinessDate> date) {
    return ForEachLine(root, Zone::kQuarantine, date,
                       [&](const LakeFile& file, std::string_view line) {
                         if (line.find(arrival_id) == std::string_view::npos) return true;
                         Result<lake::QuarantineLine> parsed = lake::ParseQuarantineLine(line);
                         if (parsed.ok() && parsed->arrival_id == arrival_id)
                           found.emplace_back(std::move(*parsed), file.file.path);
                         return true;
                       });
  };
  if (const std::optional<TimestampUs> time = UlidTime(arrival_id)) {
    const BusinessDate utc_date = BusinessCalendar().DateOf(*time);
    for (int offset = -1; offset <= 1; ++offset)
      FH_RETURN_IF_ERROR(search(utc_date.AddDays(offset)));
  }
  if (found.empty()) FH_RETURN_IF_ERROR(search(std::nullopt));
  return found;
}

int QuarantineShow(const Context& context, const LakeOptions& options) {
  Result<fs::path> root = LakeRootOf(context, options);
  if (!root.ok()) return ExitFor(root.status());
  auto found = FindArrival(*root, options.arrival_id);
  if (!found.ok()) return ExitFor(found.status());
  std::vector<std::pair<lake::QuarantineLine, std::string>> parts;
  for (auto& part : *found) {
    if (!options.event_index || part.first.event_index == *options.event_index)
      parts.push_back(std::move(part));
  }
  if (parts.empty()) {
    std::fprintf(
        stderr, "firehose: no quarantined part with arrival id %s%s\n", options.arrival_id.c_str(),
        options.event_index ? (" and event index " + std::to_string(*options.event_index)).c_str()
                            : "");
    return kExitCheckFailed;
  }
  if (options.raw) {
    if (parts.size() > 1) {
      std::fprintf(
          stderr, "firehose: arrival %s has %zu quarantined parts; choose one with --event-index\n",
          options.arrival_id.c_str(), parts.size());
      return kExitUsage;
    }
    std::fwrite(parts[0].first.raw.data(), 1, parts[0].first.raw.size(), stdout);
    return kExitOk;
  }
  if (context.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [part, file] : parts) {
      LakeFile where;
      where.file.path = file;
      nlohmann::json row = QuarantineJson(part, where);
      const bool utf8 = simdjson::validate_utf8(part.raw.data(), part.raw.size());
      row["raw_utf8"] = utf8;
      if (utf8) row["raw"] = part.raw;
      out.push_back(std::move(row));
    }
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) std::printf("\n");
    PrintPart(parts[i].first, parts[i].second);
  }
  return kExitOk;
}

template <typename Command>
void OnRun(CLI::App* command, Context& context, const LakeOptions* options, Command run) {
  command->callback([&context, options, run] {
    context.run = [&context, options, run] { return run(context, *options); };
  });
}

}  // namespace

void AddLakeCommands(CLI::App& app, Context& context) {
  static LakeOptions storage;  // outlives the App (a leak-free "lives as long as the process")
  LakeOptions* options = &storage;
  CLI::App* lake_command = app.add_subcommand("lake", "Look into the raw lake (read-only)");
  lake_command->require_subcommand(1);

  CLI::App* ls = lake_command->add_subcommand(
      "ls", "Per partition (zone, date): files, lines, bytes, queue offsets; and totals");
  AddCommonOptions(ls, options, context);
  ls->add_option("--date", options->date, "Only this date (YYYY-MM-DD)");
  OnRun(ls, context, options, LakeLs);

  CLI::App* verify =
      lake_command->add_subcommand("verify",
                                   "Check every manifest's files (size, SHA-256, every line) and "
                                   "exactly-once; exit 1 on any problem");
  AddCommonOptions(verify, options, context);
  verify->add_option("--date", options->date, "Only read the files of this date (YYYY-MM-DD)");
  OnRun(verify, context, options, LakeVerify);

  CLI::App* cat = lake_command->add_subcommand("cat", "Print the lines, decompressed");
  AddCommonOptions(cat, options, context);
  cat->add_option("--date", options->date,
                  "Only this date (event_date, or arrival_date with --quarantine)");
  cat->add_option("--partner", options->partner, "Only this partner's lines");
  cat->add_flag("--quarantine", options->quarantine, "The quarantine zone instead of the raw zone");
  OnRun(cat, context, options, LakeCat);
}

void AddQuarantineCommands(CLI::App& app, Context& context) {
  static LakeOptions storage;
  LakeOptions* options = &storage;
  CLI::App* quarantine =
      app.add_subcommand("quarantine", "Arrivals that could not be mapped, with their bytes");
  quarantine->require_subcommand(1);

  CLI::App* ls = quarantine->add_subcommand(
      "ls", "List quarantined parts: arrival, partner, reason, time, size");
  AddCommonOptions(ls, options, context);
  ls->add_option("--date", options->date, "Only this arrival date (YYYY-MM-DD)");
  ls->add_option("--partner", options->partner, "Only this partner");
  OnRun(ls, context, options, QuarantineLs);

  CLI::App* show = quarantine->add_subcommand(
      "show", "Reason, detail, metadata and raw bytes of one arrival's quarantined parts");
  AddCommonOptions(show, options, context);
  show->add_option("arrival_id", options->arrival_id, "The arrival id (ULID)")->required();
  show->add_option("--event-index", options->event_index, "Only this part (-1: the whole arrival)");
  show->add_flag("--raw", options->raw, "Write the exact raw bytes to stdout, nothing else");
  OnRun(show, context, options, QuarantineShow);
}

}  // namespace firehose::cli
