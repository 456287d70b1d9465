// Fashion-MNIST, as Debian's dataset-fashion-mnist package installs it: 60k training and 10k test
// images of 28x28 pixels in 10 classes.
#pragma once

#include <array>
#include <string>

#include "converter/data/idx.h"

namespace probex::convert {

constexpr const char* kFashionMnistDefaultDir = "/usr/share/datasets/fashion-mnist";
constexpr int kFashionMnistClasses = 10;
constexpr int kFashionMnistPixels = 28 * 28;

// Class names in label order (label i is kFashionMnistClassNames[i]).
constexpr std::array<const char*, kFashionMnistClasses> kFashionMnistClassNames = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

struct FashionMnist {
  ImageSet train;
  ImageSet test;
};

// Loads both splits from `dir` (the four *-ubyte.gz files) and checks they are 28x28 with labels < 10.
IdxStatus load_fashion_mnist(const std::string& dir, FashionMnist* out);

// The class index of `name` (exact match), or -1.
int fashion_mnist_class_index(const std::string& name);

}  // namespace probex::convert
