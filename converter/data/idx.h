// Reader for the IDX files of MNIST-style data sets (optionally gzip-compressed, as Debian ships
// Fashion-MNIST). Files are validated before use: magic, element type, dimension count, sizes that
// match the data exactly, and labels within the class count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace probex::convert {

enum class IdxError {
  kOk = 0,
  kIo,               // cannot open or read the file
  kCorruptGzip,      // the gzip stream is damaged
  kBadMagic,         // the first two bytes are not zero or the element type is not unsigned byte
  kWrongDims,        // the dimension count or the dimensions are not what the caller expects
  kTruncated,        // fewer data bytes than the dimensions promise
  kTrailingBytes,    // more data bytes than the dimensions promise
  kLabelOutOfRange,  // a label is >= the class count
  kCountMismatch,    // images and labels disagree in count
};

struct IdxStatus {
  IdxError code = IdxError::kOk;
  std::string message;
  bool ok() const { return code == IdxError::kOk; }
};

// An unsigned-byte IDX array: dims and row-major data.
struct IdxArray {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;
};

// Reads an IDX file with `expected_rank` dimensions. A file ending in .gz is decompressed (with a size
// bound taken from its own header, so a decompression bomb cannot exhaust memory). `max_elements` caps
// the element count the header may claim.
IdxStatus read_idx(const std::string& path, size_t expected_rank, IdxArray* out, uint64_t max_elements = 1ull << 31);

// A labelled image set: `count` images of rows x cols bytes each.
struct ImageSet {
  uint32_t count = 0;
  uint32_t rows = 0;
  uint32_t cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols
  std::vector<uint8_t> labels;  // count
};

// Reads an image file and its label file, checks they agree and that labels are < num_classes.
IdxStatus read_image_set(const std::string& images_path, const std::string& labels_path, uint32_t num_classes,
                         ImageSet* out);

}  // namespace probex::convert
