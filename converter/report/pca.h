// Principal component analysis down to two axes, for the reports' embedding maps. The data are small
// (tens to hundreds of models, embeddings of r_T ~ 128), so the eigenvectors come from a cyclic Jacobi
// sweep of the smaller of the covariance (d x d) and Gram (n x n) matrices: exact, deterministic and
// without a LAPACK dependency.
#pragma once

#include <cstddef>
#include <vector>

namespace probex::convert::report {

struct Pca2 {
  size_t count = 0, dimension = 0;
  std::vector<double> mean;      // [dimension]
  std::vector<double> axes;      // [2, dimension], unit length (zero where the data has no such variance)
  double explained[2] = {0, 0};  // share of the total variance along each axis
  std::vector<double> points;    // [count, 2], the centred data projected on the axes
};

// x is [n, d], row-major. Each axis's sign is fixed (its largest-magnitude entry is positive), so the
// same data always gives the same picture.
Pca2 pca_2d(const float* x, size_t n, size_t d);

// The eigenvalues (descending) and unit eigenvectors (rows, same order) of the symmetric k x k matrix a.
void symmetric_eigen(std::vector<double> a, size_t k, std::vector<double>* values, std::vector<double>* vectors);

}  // namespace probex::convert::report
