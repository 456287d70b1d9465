#include "converter/report/pca.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace probex::convert::report {

void symmetric_eigen(std::vector<double> a, size_t k, std::vector<double>* values, std::vector<double>* vectors) {
  std::vector<double> v(k * k, 0.0);  // columns: eigenvectors
  for (size_t i = 0; i < k; ++i) v[i * k + i] = 1.0;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0, total = 0.0;
    for (size_t i = 0; i < k; ++i) {
      for (size_t j = 0; j < k; ++j) (i == j ? total : off) += a[i * k + j] * a[i * k + j];
    }
    if (off <= 1e-22 * (total + off) || off == 0.0) break;
    for (size_t p = 0; p + 1 < k; ++p) {
      for (size_t q = p + 1; q < k; ++q) {
        const double apq = a[p * k + q];
        if (apq == 0.0) continue;
        // The rotation that zeroes a[p][q] (Golub & Van Loan, Algorithm 8.5.2's stable form).
        const double theta = (a[q * k + q] - a[p * k + p]) / (2 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (size_t r = 0; r < k; ++r) {  // A <- A J (columns p, q)
          const double arp = a[r * k + p], arq = a[r * k + q];
          a[r * k + p] = c * arp - s * arq;
          a[r * k + q] = s * arp + c * arq;
        }
        for (size_t r = 0; r < k; ++r) {  // A <- J^T A (rows p, q)
          const double apr = a[p * k + r], aqr = a[q * k + r];
          a[p * k + r] = c * apr - s * aqr;
          a[q * k + r] = s * apr + c * aqr;
        }
        for (size_t r = 0; r < k; ++r) {  // V <- V J
          const double vrp = v[r * k + p], vrq = v[r * k + q];
          v[r * k + p] = c * vrp - s * vrq;
          v[r * k + q] = s * vrp + c * vrq;
        }
      }
    }
  }
  std::vector<size_t> order(k);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) { return a[i * k + i] > a[j * k + j]; });
  values->assign(k, 0.0);
  vectors->assign(k * k, 0.0);
  for (size_t i = 0; i < k; ++i) {
    (*values)[i] = a[order[i] * k + order[i]];
    for (size_t r = 0; r < k; ++r) (*vectors)[i * k + r] = v[r * k + order[i]];
  }
}

Pca2 pca_2d(const float* x, size_t n, size_t d) {
  Pca2 out;
  out.count = n;
  out.dimension = d;
  out.mean.assign(d, 0.0);
  out.axes.assign(2 * d, 0.0);
  out.points.assign(2 * n, 0.0);
  if (n == 0 || d == 0) return out;
  std::vector<double> c(n * d);  // centred data
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < d; ++j) out.mean[j] += static_cast<double>(x[i * d + j]) / static_cast<double>(n);
  }
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < d; ++j) c[i * d + j] = static_cast<double>(x[i * d + j]) - out.mean[j];
  }
  // Few models in a wide space: the Gram matrix C C^T has the same non-zero eigenvalues, and C^T u are
  // the axes.
  const bool gram = n < d;
  const size_t k = gram ? n : d;
  std::vector<double> m(k * k, 0.0);
  for (size_t a = 0; a < k; ++a) {
    for (size_t b = a; b < k; ++b) {
      double sum = 0.0;
      if (gram) {
        for (size_t j = 0; j < d; ++j) sum += c[a * d + j] * c[b * d + j];
      } else {
        for (size_t i = 0; i < n; ++i) sum += c[i * d + a] * c[i * d + b];
      }
      m[a * k + b] = m[b * k + a] = sum;
    }
  }
  std::vector<double> values, vectors;
  symmetric_eigen(m, k, &values, &vectors);
  const double total = std::accumulate(values.begin(), values.end(), 0.0,
                                       [](double s, double v) { return s + std::max(v, 0.0); });
  for (size_t axis = 0; axis < 2 && axis < k; ++axis) {
    if (values[axis] <= 1e-12 * std::max(total, 1e-300)) break;  // no variance left: the axis stays zero
    double* a = &out.axes[axis * d];
    if (gram) {
      for (size_t i = 0; i < n; ++i) {
        for (size_t j = 0; j < d; ++j) a[j] += c[i * d + j] * vectors[axis * k + i];
      }
    } else {
      for (size_t j = 0; j < d; ++j) a[j] = vectors[axis * k + j];
    }
    double norm = 0.0;
    size_t largest = 0;
    for (size_t j = 0; j < d; ++j) {
      norm += a[j] * a[j];
      if (std::fabs(a[j]) > std::fabs(a[largest])) largest = j;
    }
    const double scale = (a[largest] < 0 ? -1.0 : 1.0) / std::sqrt(norm);
    for (size_t j = 0; j < d; ++j) a[j] *= scale;
    out.explained[axis] = total > 0 ? values[axis] / total : 0.0;
    for (size_t i = 0; i < n; ++i) {
      double dot = 0.0;
      for (size_t j = 0; j < d; ++j) dot += c[i * d + j] * a[j];
      out.points[i * 2 + axis] = dot;
    }
  }
  return out;
}

}  // namespace probex::convert::report
