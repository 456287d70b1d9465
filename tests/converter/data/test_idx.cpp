// The IDX reader on the real Fashion-MNIST files and on a corpus of malformed ones (plain and gzip).
#include <doctest/doctest.h>

#include <zlib.h>

#include <array>

#include "converter/data/fashion_mnist.h"
#include "tests/test_util.h"

using namespace probex::convert;

namespace {

std::vector<uint8_t> idx_bytes(uint8_t type, std::vector<uint32_t> dims, size_t data_bytes, uint8_t fill = 1) {
  std::vector<uint8_t> out = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(d >> s));
  }
  out.insert(out.end(), data_bytes, fill);
  return out;
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  gzclose(f);
}

}  // namespace

TEST_CASE("Debian's Fashion-MNIST loads with the published sizes and class balance") {
  FashionMnist data;
  const IdxStatus st = load_fashion_mnist(kFashionMnistDefaultDir, &data);
  REQUIRE_MESSAGE(st.ok(), st.message);
  CHECK(data.train.count == 60000);
  CHECK(data.test.count == 10000);
  CHECK(data.train.pixels.size() == 60000u * 784u);
  CHECK(data.train.labels[0] == 9);  // the first training image is an ankle boot
  std::array<int, 10> train_hist{}, test_hist{};
  for (uint8_t l : data.train.labels) ++train_hist[l];
  for (uint8_t l : data.test.labels) ++test_hist[l];
  for (int c = 0; c < 10; ++c) {
    CHECK(train_hist[static_cast<size_t>(c)] == 6000);
    CHECK(test_hist[static_cast<size_t>(c)] == 1000);
  }
  CHECK(fashion_mnist_class_index("Ankle boot") == 9);
  CHECK(fashion_mnist_class_index("ankle boot") == -1);
}

TEST_CASE("malformed IDX files give specific errors naming the file") {
  probex::test::TempDir dir;
  struct Case {
    const char* name;
    std::vector<uint8_t> bytes;
    size_t rank;
    IdxError expected;
    const char* message_part;
  };
  std::vector<uint8_t> trailing = idx_bytes(0x08, {2, 2}, 5);
  const std::vector<Case> cases = {
      {"empty", {}, 1, IdxError::kTruncated, "magic number ends after 0"},
      {"nonzero first byte", {1, 0, 8, 1, 0, 0, 0, 0}, 1, IdxError::kBadMagic, "not an unsigned-byte IDX"},
      {"float element type", idx_bytes(0x0D, {2}, 8), 1, IdxError::kBadMagic, "magic bytes 0 0 13"},
      {"wrong rank", idx_bytes(0x08, {2, 2}, 4), 3, IdxError::kWrongDims, "has 2 dimensions, expected 3"},
      {"truncated dims", {0, 0, 8, 3, 0, 0}, 3, IdxError::kTruncated, "dimensions ends after 2"},
      {"truncated data", idx_bytes(0x08, {10, 28, 28}, 100), 3, IdxError::kTruncated, "data ends after 100 of 7840"},
      {"trailing data", trailing, 2, IdxError::kTrailingBytes, "after the 4 elements"},
      {"too many elements", idx_bytes(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, 0), 3, IdxError::kWrongDims,
       "claim more than"},
  };
  for (const Case& c : cases) {
    for (bool gz : {false, true}) {
      CAPTURE(c.name);
      CAPTURE(gz);
      const std::string path = dir.file(std::string("case.idx") + (gz ? ".gz" : ""));
      if (gz) {
        write_gz(path, c.bytes);
      } else {
        REQUIRE(probex::test::write_bytes(path, c.bytes));
      }
      IdxArray out;
      const IdxStatus st = read_idx(path, c.rank, &out);
      CHECK(st.code == c.expected);
      CHECK(st.message.rfind(path + ": ", 0) == 0);
      CHECK(st.message.find(c.message_part) != std::string::npos);
    }
  }
}

TEST_CASE("a damaged gzip stream is reported, not decoded into garbage") {
  probex::test::TempDir dir;
  const std::string path = dir.file("bad.gz");
  write_gz(path, idx_bytes(0x08, {1000}, 1000, 7));
  auto bytes = probex::test::read_bytes(path);
  REQUIRE(bytes.size() > 30);
  bytes[bytes.size() - 6] ^= 0xFF;  // corrupt the CRC-32 in the trailer
  REQUIRE(probex::test::write_bytes(path, bytes));
  IdxArray out;
  const IdxStatus st = read_idx(path, 1, &out);
  CHECK(st.code == IdxError::kCorruptGzip);
}

TEST_CASE("image and label files must agree") {
  probex::test::TempDir dir;
  const std::string images = dir.file("img"), labels = dir.file("lab");
  REQUIRE(probex::test::write_bytes(images, idx_bytes(0x08, {3, 2, 2}, 12)));
  REQUIRE(probex::test::write_bytes(labels, idx_bytes(0x08, {2}, 2)));
  ImageSet set;
  IdxStatus st = read_image_set(images, labels, 10, &set);
  CHECK(st.code == IdxError::kCountMismatch);
  REQUIRE(probex::test::write_bytes(labels, idx_bytes(0x08, {3}, 3, 10)));
  st = read_image_set(images, labels, 10, &set);
  CHECK(st.code == IdxError::kLabelOutOfRange);
  CHECK(st.message.find("label 10 of item 0") != std::string::npos);
  REQUIRE(probex::test::write_bytes(labels, idx_bytes(0x08, {3}, 3, 9)));
  CHECK(read_image_set(images, labels, 10, &set).ok());
  CHECK(set.count == 3);
  st = read_image_set(dir.file("missing"), labels, 10, &set);
  CHECK(st.code == IdxError::kIo);
  CHECK(st.message.find("cannot open") != std::string::npos);
}
