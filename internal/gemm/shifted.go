package gemm

import "fmt"

// Shifted products: a sum of GEMMs that share B and C, each adding its
// product to C shifted by its own number of columns, and each rounded into
// C on its own, in order. A stride-1 convolution's input gradient through
// col2im is one: every kernel entry adds its product to the canvas shifted
// by the entry (see package conv's Col2imProduct). Run as one GEMM after
// another, each reads and writes all of C; SgemmShifted runs every entry
// on a panel of C's rows before it moves to the next, with the same
// arithmetic.

// shiftedSpec returns the kernel of set that SgemmShifted and
// PackShiftedA use for products of m rows (its tile decides the panels).
func shiftedSpec(set *kernelSet, m int) kernelSpec {
	return set.choose(m, 1<<20) // columns many enough not to matter
}

// PackShiftedA packs the entries' A matrices for SgemmShifted into dst,
// grown if needed, and returns it. A_e, of m rows and k columns, is stored
// at a[e·m·k:] row-major (A_e(i, p) = a[e·m·k + i·k + p]), or, when
// transA, transposed (A_e(i, p) = a[e·m·k + p·m + i]). A product that
// shifts the same A over many images packs it once.
func PackShiftedA(dst, a []float32, transA bool, entries, m, k int) []float32 {
	return packShiftedA(defaultKernels, dst, a, transA, entries, m, k)
}

func packShiftedA(set *kernelSet, dst, a []float32, transA bool, entries, m, k int) []float32 {
	if entries <= 0 || m <= 0 || k <= 0 {
		return dst[:0]
	}
	if len(a) < entries*m*k {
		panic(fmt.Sprintf("gemm: %d shifted A of %d×%d need %d elements, have %d", entries, m, k, entries*m*k, len(a)))
	}
	mr := shiftedSpec(set, m).mr
	panels := (m + mr - 1) / mr
	size := panels * mr * k // floats per entry
	if cap(dst) < entries*size {
		dst = make([]float32, entries*size)
	}
	pa := dst[:entries*size]
	// Panel r of entry e holds A_e(r·mr + i, p) at
	// [e·size + r·mr·k + p·mr + i], zero-padded.
	for e := range entries {
		clear(pa[e*size+(panels-1)*mr*k : (e+1)*size])
		ae := a[e*m*k : (e+1)*m*k]
		for i := range m {
			panel := pa[e*size+i/mr*mr*k:]
			for p := range k {
				v := ae[i*k+p]
				if transA {
					v = ae[p*m+i]
				}
				panel[p*mr+i%mr] = v
			}
		}
	}
	return pa
}

// SgemmShifted adds to C (m rows, row stride ldc), for e = 0, 1, …,
// len(shifts)−1 in that order, the product of A_e (packed by PackShiftedA)
// with B (k×n, row stride ldb), shifted right by shifts[e] columns:
//
//	C[i][shifts[e] + j] += Σ_{p<k} A_e(i, p)·B(p, j),  i < m, j < n.
//
// Each element of each product is one chain of fused multiply-adds in
// increasing p from zero, added to C once: bit for bit what
//
//	SgemmSerial(false, false, m, n, k, 1, A_e, k, b, ldb, 1, c[shifts[e]:], ldc)
//
// gives, called for each e in order. k must be at most KBlock (one block
// of the reduction; longer products would add to C once per block), and
// B's last row must be followed by 15 readable floats (the kernels
// without column masks read whole 16-float vectors; they do not use the
// extra floats). It runs on the calling goroutine and panics on sizes
// that would read or write outside its operands.
func SgemmShifted(m, n, k int, pa []float32, shifts []int, b []float32, ldb int, c []float32, ldc int) {
	sgemmShifted(defaultKernels, m, n, k, pa, shifts, b, ldb, c, ldc)
}

// shiftedSlack is how many floats past a row's n columns SgemmShifted may
// read from B.
const shiftedSlack = 15

func sgemmShifted(set *kernelSet, m, n, k int, pa []float32, shifts []int, b []float32, ldb int, c []float32, ldc int) {
	if m <= 0 || n <= 0 || k <= 0 || len(shifts) == 0 {
		return
	}
	spec := shiftedSpec(set, m)
	mr, nr := spec.mr, spec.nr
	panels := (m + mr - 1) / mr
	size := panels * mr * k
	width := 0 // C's columns: n past the largest shift
	for e, s := range shifts {
		if s < 0 || s+n > ldc {
			panic(fmt.Sprintf("gemm: entry %d shifted by %d: %d columns do not fit C's row stride %d", e, s, n, ldc))
		}
		width = max(width, s+n)
	}
	switch {
	case k > KBlock:
		panic(fmt.Sprintf("gemm: shifted products of k = %d > KBlock = %d", k, KBlock))
	case !spec.maskedB && nr-1 > shiftedSlack:
		panic(fmt.Sprintf("gemm: a %d-wide kernel reads past the slack of shifted products", nr))
	case len(pa) < len(shifts)*size:
		panic(fmt.Sprintf("gemm: %d packed shifted A of %d×%d need %d floats, have %d", len(shifts), m, k, len(shifts)*size, len(pa)))
	}
	checkOperand("B", b, k, n, ldb)
	if need := (k-1)*ldb + n + shiftedSlack; len(b) < need {
		panic(fmt.Sprintf("gemm: shifted B needs %d floats with its slack, has %d", need, len(b)))
	}
	checkOperand("C", c, m, width, ldc)
	// A panel of mr rows of C at a time through every entry, so that the
	// panel (a few KiB to tens of KiB) stays in cache between them. Tiles
	// start at each entry's shift, so that only an entry's last tile is
	// narrower than the kernel: edge tiles cost several full ones
	// (cutting C into column blocks that stay in L1 cut every entry's
	// range into more of them, and measured slower).
	for r := range panels {
		i0 := r * mr
		rows := min(mr, m-i0)
		for e, s := range shifts {
			ap := &pa[e*size+r*mr*k]
			for j := 0; j < n; j += nr {
				spec.fn(k, ap, 1, mr, &b[j], ldb, &c[i0*ldc+s+j], ldc, rows, min(nr, n-j), 1, 1)
			}
		}
	}
}
