#include "core/secret.h"

#include "core/file.h"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>

namespace firehose {

// The bytes live in their own page-aligned allocation so that they can be excluded from core
// dumps without touching unrelated memory.
struct Secret::Storage {
  char* bytes = nullptr;
  std::size_t size = 0;
  std::size_t capacity = 0;
};

Secret::Storage* Secret::NewStorage(std::string_view value) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const std::size_t capacity = (value.size() / page + 1) * page;
  void* memory = nullptr;
  if (posix_memalign(&memory, page, capacity) != 0) throw std::bad_alloc();
  madvise(memory, capacity, MADV_DONTDUMP);  // best effort: fails harmlessly where unsupported
  std::memcpy(memory, value.data(), value.size());
  auto* storage = new Secret::Storage();
  storage->bytes = static_cast<char*>(memory);
  storage->size = value.size();
  storage->capacity = capacity;
  return storage;
}

void Secret::StorageDeleter::operator()(Storage* storage) const {
  if (storage == nullptr) return;
  OPENSSL_cleanse(storage->bytes, storage->capacity);
  // The pages go back to the allocator for other data: dumpable again, and their mapping merges
  // back with its neighbours (each secret split it; config_fuzz, creating secrets by the hundred
  // thousand, ran out of mappings, vm.max_map_count, before this).
  madvise(storage->bytes, storage->capacity, MADV_DODUMP);
  std::free(storage->bytes);
  delete storage;
}

Secret::Secret(std::string value, std::string source)
    : storage_(NewStorage(value)), source_(std::move(source)) {
  OPENSSL_cleanse(value.data(), value.size());
}

Secret::Secret(const Secret& other) : source_(other.source_) {
  if (other.storage_) storage_.reset(NewStorage(other.Reveal()));
}

Secret& Secret::operator=(const Secret& other) {
  if (this != &other) {
    storage_.reset(other.storage_ ? NewStorage(other.Reveal()) : nullptr);
    source_ = other.source_;
  }
  return *this;
}

Secret::~Secret() = default;

bool Secret::empty() const { return !storage_ || storage_->size == 0; }

std::string_view Secret::Reveal() const {
  if (!storage_) return {};
  return {storage_->bytes, storage_->size};
}

std::string Secret::Redacted() const { return "<redacted from " + source_ + ">"; }

Result<Secret> ResolveSecret(std::string_view reference, std::string_view base_dir,
                             bool* is_literal) {
  *is_literal = false;
  if (reference.starts_with("env:")) {
    const std::string name(reference.substr(4));
    const char* value = std::getenv(name.c_str());
    if (value == nullptr || *value == '\0') {
      return NotFound("environment variable " + name + " is not set (or empty)");
    }
    return Secret(value, "env:" + name);
  }
  if (reference.starts_with("file:")) {
    std::filesystem::path path(reference.substr(5));
    if (path.is_relative()) path = std::filesystem::path(base_dir) / path;
    struct stat info {};
    if (stat(path.c_str(), &info) != 0) return NotFound("secret file " + path.string() + " does not exist");
    if (!S_ISREG(info.st_mode)) {
      return FailedPrecondition("secret file " + path.string() +
                                " is not a regular file (a directory, device or pipe)");
    }
    if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      return FailedPrecondition("secret file " + path.string() +
                                " is readable by group or others; chmod 600 it");
    }
    if (static_cast<std::uint64_t>(info.st_size) > kSecretFileBytesMax) {
      return InvalidArgument("secret file " + path.string() + " holds " +
                             std::to_string(info.st_size) + " bytes; a secret is at most " +
                             std::to_string(kSecretFileBytesMax));
    }
    Result<std::string> read = ReadFile(path, kSecretFileBytesMax);
    if (!read.ok()) return read.status();
    std::string value = std::move(*read);
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    if (value.empty()) return InvalidArgument("secret file " + path.string() + " is empty");
    return Secret(std::move(value), "file:" + path.string());
  }
  if (reference.empty()) return InvalidArgument("secret is empty");
  *is_literal = true;
  return Secret(std::string(reference), "inline");
}

}  // namespace firehose
