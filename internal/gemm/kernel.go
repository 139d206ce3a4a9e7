package gemm

import (
	"math"
	"unsafe"
)

// kernelFunc is the contract every micro-kernel implements, in assembly or
// in Go. It accumulates one mr×nr register tile over kc ≥ 1 steps,
//
//	acc[r][j] = Σ_{p<kc} A(r,p)·B(p,j),  A(r,p) = a[r·rsa + p·psa],  B(p,j) = b[p·psb + j],
//
// with the products fused into the sums (FMA) in increasing p, and then
// writes C[r·ldc + j] = alpha·acc[r][j] + beta·C[r·ldc + j] for r < rows
// and j < cols (1 ≤ rows ≤ mr, 1 ≤ cols ≤ nr: an edge tile), rounding the
// alpha product first and fusing the beta one. C is not read when beta is
// zero, so whatever it held (NaN included) is overwritten; nothing outside
// the rows×cols window is read or written.
//
// The two A strides let one kernel read A packed (rsa = 1, psa = mr), or in
// place from row-major storage (rsa = lda, psa = 1) or from transposed
// storage (rsa = 1, psa = lda). B rows are always nr contiguous floats,
// packed (psb = nr) or in place (psb = ldb). Strides are in elements.
type kernelFunc func(kc int, a *float32, rsa, psa int, b *float32, psb int, c *float32, ldc, rows, cols int, alpha, beta float32)

// kernelSpec is a micro-kernel and its register-tile shape.
type kernelSpec struct {
	name   string
	mr, nr int
	fn     kernelFunc
}

// kernelSet is the family of micro-kernels used on one CPU: wide for
// general products, narrow (nr = 16) for products with at most 16 columns.
// Every kernel in every set sums in the same order (see kernelFunc) and
// the blocking along k does not depend on the set, so all sets give
// bit-identical results.
type kernelSet struct {
	name         string
	wide, narrow kernelSpec
}

// forN returns the kernel for a product with n columns.
func (s *kernelSet) forN(n int) kernelSpec {
	if n <= s.narrow.nr && s.narrow.mr != 0 {
		return s.narrow
	}
	return s.wide
}

// goMR and goNR are the tile of the portable kernel; 6×16 mirrors the AVX2
// kernel so the two exercise the same edge cases.
const (
	goMR = 6
	goNR = 16
)

// portable is the pure-Go kernel set, used where no SIMD kernel applies
// and forced in tests to check it against the assembly.
var portable = kernelSet{
	name:   "go",
	wide:   kernelSpec{name: "go6x16", mr: goMR, nr: goNR, fn: kernelGo},
	narrow: kernelSpec{name: "go6x16", mr: goMR, nr: goNR, fn: kernelGo},
}

// fma32 is a fused multiply-add rounded to float32. The product of two
// float32 values is exact in float64, so only the sum is rounded twice (to
// float64, then to float32); that can differ from a single rounding only
// when the float64 sum lands exactly on a float32 rounding midpoint.
func fma32(x, y, z float32) float32 {
	return float32(math.FMA(float64(x), float64(y), float64(z)))
}

// kernelGo is the portable implementation of kernelFunc for a goMR×goNR
// tile. It uses unsafe.Slice only to view the same memory the assembly
// kernels read; callers guarantee the spans are in bounds. Each row is
// done eight columns at a time with the sums in local variables, which the
// compiler keeps in registers (an accumulator array would live in memory);
// eight independent sums hide the latency of the float32↔float64
// conversions around each FMA.
func kernelGo(kc int, a *float32, rsa, psa int, b *float32, psb int, c *float32, ldc, rows, cols int, alpha, beta float32) {
	as := unsafe.Slice(a, (goMR-1)*rsa+(kc-1)*psa+1)
	bs := unsafe.Slice(b, (kc-1)*psb+goNR)
	cs := unsafe.Slice(c, (rows-1)*ldc+cols)
	for r := range rows {
		crow := cs[r*ldc : r*ldc+cols]
		for j0 := 0; j0 < cols; j0 += 8 {
			var s0, s1, s2, s3, s4, s5, s6, s7 float32
			ai, bi := r*rsa, j0
			for range kc {
				av := float64(as[ai])
				bq := bs[bi : bi+8 : bi+8]
				s0 = float32(math.FMA(av, float64(bq[0]), float64(s0)))
				s1 = float32(math.FMA(av, float64(bq[1]), float64(s1)))
				s2 = float32(math.FMA(av, float64(bq[2]), float64(s2)))
				s3 = float32(math.FMA(av, float64(bq[3]), float64(s3)))
				s4 = float32(math.FMA(av, float64(bq[4]), float64(s4)))
				s5 = float32(math.FMA(av, float64(bq[5]), float64(s5)))
				s6 = float32(math.FMA(av, float64(bq[6]), float64(s6)))
				s7 = float32(math.FMA(av, float64(bq[7]), float64(s7)))
				ai += psa
				bi += psb
			}
			sums := [8]float32{s0, s1, s2, s3, s4, s5, s6, s7}
			for q, v := range sums[:min(8, cols-j0)] {
				t := float32(alpha * v)
				if beta == 0 {
					crow[j0+q] = t
				} else {
					crow[j0+q] = fma32(beta, crow[j0+q], t)
				}
			}
		}
	}
}
