// Package openblas links OpenBLAS's cblas_sgemm (Debian: apt-get install
// libopenblas-dev) so that benchmarks can compare mirage's GEMM against it
// in the same run. It is only built with -tags openblas; the default build
// needs no C compiler. It calls cblas_sgemm directly rather than through
// gonum.org/v1/netlib, whose last release predates this Go toolchain by
// years and which would add a module dependency for one function.
//
// Without the tag the package is empty.
package openblas
