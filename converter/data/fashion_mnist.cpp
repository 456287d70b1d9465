#include "converter/data/fashion_mnist.h"

namespace probex::convert {

IdxStatus load_fashion_mnist(const std::string& dir, FashionMnist* out) {
  struct Split {
    const char* images;
    const char* labels;
    ImageSet* set;
  };
  const Split splits[] = {{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", &out->train},
                          {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", &out->test}};
  for (const Split& s : splits) {
    const std::string images = dir + "/" + s.images;
    IdxStatus st = read_image_set(images, dir + "/" + s.labels, kFashionMnistClasses, s.set);
    if (!st.ok()) return st;
    if (s.set->rows != 28 || s.set->cols != 28) {
      return {IdxError::kWrongDims, images + ": images are " + std::to_string(s.set->rows) + "x" +
                                        std::to_string(s.set->cols) + ", Fashion-MNIST has 28x28"};
    }
  }
  return {};
}

int fashion_mnist_class_index(const std::string& name) {
  for (int i = 0; i < kFashionMnistClasses; ++i) {
    if (name == kFashionMnistClassNames[static_cast<size_t>(i)]) return i;
  }
  return -1;
}

}  // namespace probex::convert
