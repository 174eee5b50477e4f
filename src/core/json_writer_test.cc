#include "core/json_writer.h"

#include <gtest/gtest.h>
#include <simdjson.h>

namespace firehose {
namespace {

TEST(JsonWriter, NestsAndPlacesCommas) {
  std::string out;
  JsonWriter(&out).BeginObject().Field("a", 1).Key("b").BeginArray().Int(1).String("x").Null()
      .EndArray().Key("c").BeginObject().EndObject().Field("d", true).EndObject();
  EXPECT_EQ(out, R"({"a":1,"b":[1,"x",null],"c":{},"d":true})");
}

TEST(JsonWriter, EscapesAndReplacesInvalidUtf8) {
  std::string out;
  AppendJsonString(&out, "q\"b\\n\n\x01\xff ok \xc3\xa4");
  EXPECT_EQ(out, "\"q\\\"b\\\\n\\n\\u0001\xEF\xBF\xBD ok \xc3\xa4\"");
  simdjson::dom::parser parser;
  EXPECT_EQ(parser.parse(simdjson::padded_string(out)).error(), simdjson::SUCCESS);
}

}  // namespace
}  // namespace firehose
