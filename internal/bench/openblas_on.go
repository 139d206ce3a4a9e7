//go:build openblas && cgo

package bench

import "github.com/mirage-go/mirage/internal/gemm/openblas"

// openBLAS is OpenBLAS's sgemm, present in binaries built with -tags openblas.
var openBLAS SgemmFunc = openblas.Sgemm

// openBLASInfo describes the linked OpenBLAS.
var openBLASInfo = openblas.Info
