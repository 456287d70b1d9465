#include "converter/data/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "runtime/math/checked_math.h"

namespace probex::convert {
namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

IdxStatus fail(IdxError code, const std::string& path, const std::string& what) { return {code, path + ": " + what}; }

// Reads exactly `size` bytes, or reports truncation / corruption.
IdxStatus read_exact(gzFile f, const std::string& path, void* dst, size_t size, const char* what) {
  auto* p = static_cast<uint8_t*>(dst);
  size_t done = 0;
  while (done < size) {
    const size_t chunk = std::min<size_t>(size - done, 1u << 30);
    const int got = gzread(f, p + done, static_cast<unsigned>(chunk));
    if (got < 0) {
      int zerr = 0;
      const char* msg = gzerror(f, &zerr);
      return fail(zerr == Z_ERRNO ? IdxError::kIo : IdxError::kCorruptGzip, path,
                  std::string("cannot read ") + what + ": " + (zerr == Z_ERRNO ? std::strerror(errno) : msg));
    }
    if (got == 0) {
      return fail(IdxError::kTruncated, path,
                  std::string(what) + " ends after " + std::to_string(done) + " of " + std::to_string(size) + " bytes");
    }
    done += static_cast<size_t>(got);
  }
  return {};
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

IdxStatus read_idx(const std::string& path, size_t expected_rank, IdxArray* out, uint64_t max_elements) {
  // gzopen reads plain files transparently, so one path handles .gz and uncompressed IDX files.
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) return fail(IdxError::kIo, path, std::string("cannot open: ") + std::strerror(errno));

  uint8_t magic[4];
  IdxStatus st = read_exact(f.get(), path, magic, 4, "the magic number");
  if (!st.ok()) return st;
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08) {
    return fail(IdxError::kBadMagic, path,
                "not an unsigned-byte IDX file (magic bytes " + std::to_string(magic[0]) + " " +
                    std::to_string(magic[1]) + " " + std::to_string(magic[2]) + ")");
  }
  if (magic[3] != expected_rank) {
    return fail(IdxError::kWrongDims, path,
                "has " + std::to_string(magic[3]) + " dimensions, expected " + std::to_string(expected_rank));
  }
  std::vector<uint8_t> dim_bytes(4 * expected_rank);
  st = read_exact(f.get(), path, dim_bytes.data(), dim_bytes.size(), "the dimensions");
  if (!st.ok()) return st;
  out->dims.clear();
  uint64_t elements = 1;
  for (size_t i = 0; i < expected_rank; ++i) {
    const uint32_t d = be32(&dim_bytes[4 * i]);
    out->dims.push_back(d);
    if (!checked_mul(elements, d, &elements) || elements > max_elements) {
      return fail(IdxError::kWrongDims, path,
                  "dimensions claim more than " + std::to_string(max_elements) + " elements");
    }
  }
  out->data.resize(static_cast<size_t>(elements));
  st = read_exact(f.get(), path, out->data.data(), out->data.size(), "the data");
  if (!st.ok()) return st;
  uint8_t extra = 0;
  const int more = gzread(f.get(), &extra, 1);
  if (more > 0)
    return fail(IdxError::kTrailingBytes, path, "has data after the " + std::to_string(elements) + " elements");
  if (more < 0) return fail(IdxError::kCorruptGzip, path, "damaged gzip stream at its end");
  return {};
}

IdxStatus read_image_set(const std::string& images_path, const std::string& labels_path, uint32_t num_classes,
                         ImageSet* out) {
  IdxArray images, labels;
  IdxStatus st = read_idx(images_path, 3, &images);
  if (!st.ok()) return st;
  st = read_idx(labels_path, 1, &labels);
  if (!st.ok()) return st;
  if (images.dims[1] == 0 || images.dims[2] == 0) {
    return fail(IdxError::kWrongDims, images_path, "images have an empty dimension");
  }
  if (images.dims[0] != labels.dims[0]) {
    return fail(IdxError::kCountMismatch, labels_path,
                "has " + std::to_string(labels.dims[0]) + " labels for " + std::to_string(images.dims[0]) +
                    " images in " + images_path);
  }
  for (size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= num_classes) {
      return fail(IdxError::kLabelOutOfRange, labels_path,
                  "label " + std::to_string(labels.data[i]) + " of item " + std::to_string(i) + " is not below " +
                      std::to_string(num_classes));
    }
  }
  out->count = images.dims[0];
  out->rows = images.dims[1];
  out->cols = images.dims[2];
  out->pixels = std::move(images.data);
  out->labels = std::move(labels.data);
  return {};
}

}  // namespace probex::convert
