//go:build openblas && cgo

package openblas

// #cgo LDFLAGS: -lopenblas
// #include <cblas.h>
import "C"

import (
	"fmt"
	"unsafe"
)

// Sgemm has gemm.Sgemm's contract and runs cblas_sgemm in row-major
// order. OpenBLAS picks its kernel and thread count itself
// (OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS).
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ta, tb := uint32(C.CblasNoTrans), uint32(C.CblasNoTrans)
	if transA {
		ta = C.CblasTrans
	}
	if transB {
		tb = C.CblasTrans
	}
	C.cblas_sgemm(C.CblasRowMajor, C.enum_CBLAS_TRANSPOSE(ta), C.enum_CBLAS_TRANSPOSE(tb),
		C.blasint(m), C.blasint(n), C.blasint(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda),
		(*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb), C.float(beta),
		(*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}

// Info describes the OpenBLAS library in use: its build configuration, the
// kernel it chose for this CPU (OPENBLAS_CORETYPE overrides the choice)
// and its thread count.
func Info() string {
	return fmt.Sprintf("%s; core %s; %d threads", C.GoString(C.openblas_get_config()), C.GoString(C.openblas_get_corename()), int(C.openblas_get_num_threads()))
}
