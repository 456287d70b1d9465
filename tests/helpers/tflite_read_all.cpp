// Reads every tensor of a model file through the model-file interface, for the real-file tests
// (tests/scenarios/tflite_real_files.sh): each readable tensor whole and row by row (the two must agree, and
// every value must be finite); each unreadable one must be refused with unsupported_conversion.
//   tflite_read_all FILE [NAME COUNT]...   prints "tensors N readable R", then COUNT first values of NAME
// Exit 0 when all reads behave, 1 otherwise (the message says which tensor).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "runtime/formats/model_file.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc % 2 != 0) {
    std::fprintf(stderr, "usage: tflite_read_all FILE [NAME COUNT]...\n");
    return 2;
  }
  std::unique_ptr<probex::ModelFile> model;
  const probex::ModelStatus st = probex::open_model_file(argv[1], &model);
  if (!st.ok()) {
    std::fprintf(stderr, "%s [%s]\n", st.message.c_str(), st.detail.c_str());
    return 1;
  }
  size_t readable = 0;
  std::vector<float> whole, rows;
  for (const probex::ModelTensor& t : model->tensors()) {
    if (!t.readable) {
      float x = 0;
      const probex::ModelStatus r = model->read_f32(t, 0, t.element_count ? 1 : 0, &x);
      if (r.code != probex::ModelError::kUnsupportedConversion) {
        std::fprintf(stderr, "%s: unreadable, yet read_f32 gives '%s'\n", t.name.c_str(), r.message.c_str());
        return 1;
      }
      continue;
    }
    ++readable;
    const size_t n = static_cast<size_t>(t.element_count);
    whole.assign(n, NAN);
    rows.assign(n, NAN);
    probex::ModelStatus r = model->read_f32(t, 0, t.element_count, whole.data());
    for (uint64_t row = 0; r.ok() && row < t.rows(); ++row) {
      r = model->read_rows_f32(t, row, 1, rows.data() + row * t.row_length());
    }
    if (!r.ok()) {
      std::fprintf(stderr, "%s: %s\n", t.name.c_str(), r.message.c_str());
      return 1;
    }
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(whole[i]) || std::memcmp(&whole[i], &rows[i], sizeof(float)) != 0) {
        std::fprintf(stderr, "%s: element %zu: %g whole, %g by rows\n", t.name.c_str(), i, double(whole[i]),
                     double(rows[i]));
        return 1;
      }
    }
  }
  std::printf("tensors %zu readable %zu\n", model->tensors().size(), readable);
  for (int a = 2; a + 1 < argc; a += 2) {
    const probex::ModelTensor* t = model->find(argv[a]);
    const uint64_t count = std::strtoull(argv[a + 1], nullptr, 10);
    if (t == nullptr || count > t->element_count) {
      std::fprintf(stderr, "%s: no such tensor, or fewer than %s elements\n", argv[a], argv[a + 1]);
      return 1;
    }
    std::vector<float> v(static_cast<size_t>(count));
    const probex::ModelStatus r = model->read_f32(*t, 0, count, v.data());
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.message.c_str());
      return 1;
    }
    std::printf("%s [", t->name.c_str());
    for (size_t i = 0; i < t->shape.size(); ++i)
      std::printf("%s%llu", i ? "," : "", static_cast<unsigned long long>(t->shape[i]));
    std::printf("]");
    for (float x : v) std::printf(" %.9g", double(x));
    std::printf("\n");
  }
  return 0;
}
