// The dashboard's files (src/ops/dashboard/ and Debian's Chart.js), embedded into the binary
// at build time by cmake/EmbedFiles.cmake so that `firehose` serves them without any file on
// disk.
#pragma once

#include <string_view>
#include <vector>

namespace firehose::ops {

struct EmbeddedFile {
  std::string_view path;   // the URL path it is served at: "/", "/dashboard/app.js", ...
  std::string_view bytes;  // the file's contents
};

const std::vector<EmbeddedFile>& EmbeddedFiles();

}  // namespace firehose::ops
