#include "lake/lake_reader.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "core/file.h"
#include "core/hex.h"
#include "lake/lake_line.h"

namespace firehose::lake {

namespace {

// Decompressed bytes asked of zstd per call, and the smallest free space worth a call.
constexpr std::size_t kLineBufferBytes = 512 << 10;
constexpr std::size_t kRefillBytesMin = 64 << 10;
// The largest zstd window a reader accepts (memory bound against a hostile file). The writer
// uses the level's default window, far below this.
constexpr int kWindowLogMax = 27;

}  // namespace

struct LineReader::State {
  ~State() {
    ZSTD_freeDCtx(dctx);
    EVP_MD_CTX_free(sha);
  }

  std::filesystem::path path;
  Options options;
  FileDescriptor fd;
  ZSTD_DCtx* dctx = nullptr;
  EVP_MD_CTX* sha = nullptr;
  std::vector<char> input;
  ZSTD_inBuffer input_buffer{nullptr, 0, 0};
  bool input_eof = false;
  bool frame_complete = true;   // an empty file holds no frame and no line
  bool output_pending = false;  // zstd may hold decompressed bytes it had no room for
  std::vector<char> buffer;     // decompressed bytes; the last kLinePaddingBytes are padding
  std::size_t begin = 0;        // start of the bytes not yet returned
  std::size_t scan = 0;         // where the search for the next '\n' resumes
  std::size_t end = 0;          // end of the decompressed bytes
  std::string digest_hex;

  Status Error(std::string_view what) const {
    return DataLoss(path.string() + ": " + std::string(what));
  }
  std::size_t usable() const { return buffer.size() - kLinePaddingBytes; }
};

LineReader::LineReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
LineReader::~LineReader() = default;

Result<std::unique_ptr<LineReader>> LineReader::Open(const std::filesystem::path& path,
                                                     Options options) {
  auto state = std::make_unique<State>();
  state->path = path;
  state->options = options;
  FH_ASSIGN_OR_RETURN(state->fd, OpenFile(path, O_RDONLY));
  state->dctx = ZSTD_createDCtx();
  if (state->dctx == nullptr) return Internal("ZSTD_createDCtx failed");
  ZSTD_DCtx_setParameter(state->dctx, ZSTD_d_windowLogMax, kWindowLogMax);
  if (options.compute_sha256) {
    state->sha = EVP_MD_CTX_new();
    if (state->sha == nullptr || EVP_DigestInit_ex(state->sha, EVP_sha256(), nullptr) != 1) {
      return Internal("SHA-256 initialisation failed");
    }
  }
  state->input.resize(ZSTD_DStreamInSize());
  state->buffer.resize(std::min(kLineBufferBytes, options.line_bytes_max + 1) + kRefillBytesMin +
                       kLinePaddingBytes);
  return std::unique_ptr<LineReader>(new LineReader(std::move(state)));
}

Result<bool> LineReader::Next(std::string_view* line) {
  State& s = *state_;
  while (true) {
    const char* base = s.buffer.data();
    const void* newline =
        s.end > s.scan ? std::memchr(base + s.scan, '\n', s.end - s.scan) : nullptr;
    if (newline != nullptr) {
      const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(newline) - base);
      *line = std::string_view(base + s.begin, at - s.begin);
      s.begin = s.scan = at + 1;
      ++lines_;
      return true;
    }
    s.scan = s.end;
    if (s.end - s.begin > s.options.line_bytes_max) {
      return s.Error("a line is longer than " + std::to_string(s.options.line_bytes_max) +
                     " bytes");
    }
    const bool input_done = s.input_eof && s.input_buffer.pos == s.input_buffer.size;
    if (input_done && !s.output_pending) {
      if (!s.frame_complete) return s.Error("truncated zstd frame");
      if (s.end != s.begin) return s.Error("the last line has no newline");
      if (s.sha != nullptr && s.digest_hex.empty()) s.digest_hex = FinalDigestHex(s.sha);
      return false;
    }
    FH_RETURN_IF_ERROR(Refill());
  }
}

Status LineReader::Refill() {
  State& s = *state_;
  // Keep only the partial line, at the front.
  if (s.begin > 0) {
    std::memmove(s.buffer.data(), s.buffer.data() + s.begin, s.end - s.begin);
    s.end -= s.begin;
    s.scan -= s.begin;
    s.begin = 0;
  }
  if (s.usable() - s.end < kRefillBytesMin) {
    s.buffer.resize(std::min(s.buffer.size() * 2,
                             s.options.line_bytes_max + 1 + kRefillBytesMin + kLinePaddingBytes));
  }
  if (s.input_buffer.pos == s.input_buffer.size && !s.input_eof) {
    ssize_t got = 0;
    do {
      got = ::read(s.fd.get(), s.input.data(), s.input.size());
    } while (got < 0 && errno == EINTR);
    if (got < 0) return ErrnoStatus("read " + s.path.string(), errno);
    if (got == 0) {
      s.input_eof = true;
    } else {
      s.input_buffer = {s.input.data(), static_cast<std::size_t>(got), 0};
      compressed_bytes_ += static_cast<std::uint64_t>(got);
      if (s.sha != nullptr) EVP_DigestUpdate(s.sha, s.input.data(), static_cast<std::size_t>(got));
    }
  }
  ZSTD_outBuffer output{s.buffer.data() + s.end, s.usable() - s.end, 0};
  const std::size_t input_before = s.input_buffer.pos;
  const std::size_t result = ZSTD_decompressStream(s.dctx, &output, &s.input_buffer);
  if (ZSTD_isError(result)) return s.Error(std::string("zstd: ") + ZSTD_getErrorName(result));
  // 0 means a frame just ended (another may follow). A call that moved nothing says nothing.
  if (output.pos > 0 || s.input_buffer.pos != input_before) s.frame_complete = result == 0;
  s.output_pending = output.pos == output.size;
  s.end += output.pos;
  uncompressed_bytes_ += output.pos;
  return Status::Ok();
}

std::string LineReader::Sha256Hex() const { return state_->digest_hex; }

std::vector<LakeFile> LakeListing::Files(Zone zone, std::optional<BusinessDate> date) const {
  std::vector<LakeFile> out;
  for (const Manifest& manifest : manifests) {
    for (const ManifestFile& file : manifest.files) {
      if (file.zone != zone || (date && file.date != *date)) continue;
      out.push_back({manifest.writer, manifest.first, manifest.last, file});
    }
  }
  std::sort(out.begin(), out.end(), [](const LakeFile& a, const LakeFile& b) {
    return std::tie(a.file.date, a.file.path) < std::tie(b.file.date, b.file.path);
  });
  return out;
}

namespace {

namespace fs = std::filesystem;

Result<std::vector<fs::directory_entry>> ListDirectory(const fs::path& directory) {
  std::vector<fs::directory_entry> entries;
  std::error_code error;
  fs::directory_iterator it(directory, error);
  if (error == std::errc::no_such_file_or_directory) return entries;
  if (error) return Internal("listing " + directory.string() + ": " + error.message());
  for (const fs::directory_entry& entry : it) entries.push_back(entry);
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  return entries;
}

Status ReadManifests(const fs::path& lake_root, LakeListing* listing) {
  FH_ASSIGN_OR_RETURN(const auto writers, ListDirectory(lake_root / kManifestDir));
  for (const fs::directory_entry& writer_dir : writers) {
    const std::string name = writer_dir.path().filename().string();
    if (!writer_dir.is_directory() || !name.starts_with("writer=")) {
      listing->problems.push_back({"unexpected_entry", std::string(kManifestDir) + "/" + name,
                                   "not a writer=<id> directory"});
      continue;
    }
    const std::string writer = name.substr(7);
    FH_ASSIGN_OR_RETURN(const auto entries, ListDirectory(writer_dir.path()));
    for (const fs::directory_entry& entry : entries) {
      const std::string file_name = entry.path().filename().string();
      const std::string relative = ManifestDirPath(writer) + "/" + file_name;  // for messages
      QueueOffset first;
      QueueOffset last;
      if (!ParseManifestFileName(file_name, &first, &last)) {
        // An interrupted manifest write leaves "<name>.json.tmp": not a manifest, not published.
        if (!file_name.ends_with(".json.tmp")) {
          listing->problems.push_back({"unexpected_entry", relative, "not a manifest name"});
        }
        continue;
      }
      Result<Manifest> manifest = ReadManifest(entry.path());
      if (!manifest.ok()) {
        listing->problems.push_back({"manifest_unreadable", relative, manifest.status().message()});
        continue;
      }
      if (manifest->writer != writer || manifest->first != first || manifest->last != last) {
        listing->problems.push_back({"manifest_name_mismatch", relative,
                                     "its contents name writer " + manifest->writer +
                                         " and range " + std::to_string(manifest->first.value()) +
                                         "-" + std::to_string(manifest->last.value()) +
                                         ", not its file name's"});
        continue;
      }
      listing->manifests.push_back(std::move(*manifest));
    }
  }
  return Status::Ok();
}

// Adds every data file found in the zones' partitions to `present`.
Status WalkZones(const fs::path& lake_root, LakeListing* listing, std::set<std::string>* present) {
  for (const Zone zone : {Zone::kRaw, Zone::kQuarantine}) {
    const std::string zone_name(ZoneName(zone));
    FH_ASSIGN_OR_RETURN(const auto partitions, ListDirectory(lake_root / zone_name));
    for (const fs::directory_entry& partition : partitions) {
      const std::string partition_name = partition.path().filename().string();
      BusinessDate date;
      if (!partition.is_directory() ||
          !ParsePartitionName(partition_name, PartitionKey(zone), &date)) {
        listing->problems.push_back(
            {"unexpected_entry", zone_name + "/" + partition_name,
             "not a " + std::string(PartitionKey(zone)) + "=YYYY-MM-DD directory"});
        continue;
      }
      FH_ASSIGN_OR_RETURN(const auto files, ListDirectory(partition.path()));
      for (const fs::directory_entry& file : files) {
        const std::string file_name = file.path().filename().string();
        const std::string relative = zone_name + "/" + partition_name + "/" + file_name;
        PartFile parsed;
        if (!file.is_regular_file() || !ParsePartFileName(file_name, &parsed)) {
          listing->problems.push_back({"unexpected_entry", relative, "not a lake data file name"});
          continue;
        }
        present->insert(relative);
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<LakeListing> ListLake(const fs::path& lake_root) {
  LakeListing listing;
  FH_RETURN_IF_ERROR(ReadManifests(lake_root, &listing));
  std::set<std::string> present;
  FH_RETURN_IF_ERROR(WalkZones(lake_root, &listing, &present));
  std::set<std::string> listed;
  for (const Manifest& manifest : listing.manifests) {
    for (const ManifestFile& file : manifest.files) {
      listed.insert(file.path);
      if (present.count(file.path) != 0) continue;
      listing.missing_files.push_back(file.path);
      std::error_code error;
      const bool pending = fs::exists(lake_root / file.temp_path, error);
      const std::string manifest_path =
          ManifestPath(manifest.writer, manifest.first, manifest.last);
      if (pending) {
        listing.problems.push_back(
            {"file_pending", file.path,
             "listed by " + manifest_path + " but still in " + file.temp_path +
                 " (publication in progress, or the writer has not restarted "
                 "since a crash)"});
      } else {
        listing.problems.push_back(
            {"file_missing", file.path, "listed by " + manifest_path + " but missing"});
      }
    }
  }
  for (const std::string& path : present) {
    if (listed.count(path) != 0) continue;
    listing.unlisted_files.push_back(path);
    listing.problems.push_back({"file_unlisted", path, "a data file that no manifest lists"});
  }
  return listing;
}

}  // namespace firehose::lake
