package gemm

import "fmt"

// roundedKernelFunc is indexedKernelFunc whose B elements are rounded
// before they are multiplied: B's rows are cut into tiles, the first
// `first` rows long, each later one `tile` rows, and element j of a row in
// tile t becomes max(min((x + m) - m, l), -l) in FP32, with m, l and -l
// the floats j of the three rows q + 3t·ldq, + ldq, + 2·ldq. The sums are
// indexedKernelFunc's.
type roundedKernelFunc func(kc int, a *float32, rsa, psa int, b *float32, offsets *int, c *float32, ldc, rows, cols int, alpha, beta float32, q *float32, ldq, first, tile int)

// HasRoundedRowsB reports whether SgemmRoundedRowsB runs on this CPU
// (it needs the AVX2 or AVX-512 kernels).
func HasRoundedRowsB() bool { return defaultKernels.rounded != nil }

// RoundedRowsBWidth returns the width (columns of C) of the register tile
// of SgemmRoundedRowsB's kernel on this CPU: 32 with AVX-512, 16 with
// AVX2, 0 without a kernel. AVX2's holds the rounding constants in memory
// rather than registers, which makes rounding in the kernel dearer there
// (see package bfpengine's grid path).
func RoundedRowsBWidth() int { return defaultKernels.roundedNR }

// PackRoundedA packs A (m×k, row stride lda) for SgemmRoundedRowsB into
// dst, grown if needed, and returns it: a product that multiplies one A
// by the runs of many images packs it once.
func PackRoundedA(dst, a []float32, lda, m, k int) []float32 {
	return packRoundedA(defaultKernels, dst, a, lda, m, k)
}

// packRoundedA is PackRoundedA for the rounding kernel of set (whose tile
// height decides the panels).
func packRoundedA(set *kernelSet, dst, a []float32, lda, m, k int) []float32 {
	mr := max(1, set.roundedMR)
	panels := (m + mr - 1) / mr
	if m <= 0 || k <= 0 {
		return dst[:0]
	}
	checkOperand("A", a, m, k, lda)
	if cap(dst) < panels*mr*k {
		dst = make([]float32, panels*mr*k)
	}
	pa := dst[:panels*mr*k]
	// Panel r holds A(r·mr + i, p) at [r·mr·k + p·mr + i], zero-padded.
	clear(pa[(panels-1)*mr*k:])
	for i := range m {
		panel := pa[i/mr*mr*k:]
		for p, v := range a[i*lda : i*lda+k] {
			panel[p*mr+i%mr] = v
		}
	}
	return pa
}

// SgemmRoundedRowsB computes C = A·B̃, overwriting C (m×n, row stride
// ldc), for A (m×k) packed by PackRoundedA into pa, and B̃ the matrix B of
// SgemmRowsB (not transposed: row p of B is the n floats from
// b[rowsB[p]]) with every element rounded as it is read:
//
//	B̃(p, j) = max(min((B(p, j) + M) − M, L), −L)   in FP32,
//
// where M, L and −L are q[3t·ldq + j], q[(3t+1)·ldq + j] and
// q[(3t+2)·ldq + j] for p in tile t = ⌊p/tile⌋ of B's rows. With
// M = 1.5·2^(23+e) that is block floating point's rounding of B(p, j) to a
// multiple of 2^e (ties to even) clamped to ±L: a block floating point
// product whose B operand, the receptive fields of a convolution, is read
// and quantised in place, never written out.
//
// The result is bit for bit that of Sgemm(false, false, m, n, k, 1, A,
// lda, B̃ stored densely, n, 0, c, ldc) on one goroutine. It runs on the
// calling goroutine. It does nothing and reports false where the CPU has
// no kernel for it (see HasRoundedRowsB). It panics on sizes, strides or
// offsets that would read outside its operands.
func SgemmRoundedRowsB(m, n, k int, pa, b []float32, rowsB []int, q []float32, ldq, tile int, c []float32, ldc int) bool {
	return sgemmRoundedRowsB(defaultKernels, m, n, k, pa, b, rowsB, q, ldq, tile, c, ldc)
}

// sgemmRoundedRowsB is SgemmRoundedRowsB with the rounding kernel of set.
func sgemmRoundedRowsB(set *kernelSet, m, n, k int, pa, b []float32, rowsB []int, q []float32, ldq, tile int, c []float32, ldc int) bool {
	kern, roundedMR, roundedNR := set.rounded, set.roundedMR, set.roundedNR
	if kern == nil {
		return false
	}
	if m <= 0 || n <= 0 {
		return true
	}
	checkOperand("C", c, m, n, ldc)
	if k <= 0 {
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
		return true
	}
	panels := (m + roundedMR - 1) / roundedMR
	tiles := 0
	if tile > 0 {
		tiles = (k + tile - 1) / tile
	}
	switch {
	case tile <= 0:
		panic(fmt.Sprintf("gemm: rounding tiles of %d rows", tile))
	case len(pa) < panels*roundedMR*k:
		panic(fmt.Sprintf("gemm: packed A of %d floats for %d×%d", len(pa), m, k))
	case len(rowsB) != k:
		panic(fmt.Sprintf("gemm: B needs %d row offsets, got %d", k, len(rowsB)))
	case ldq < n:
		panic(fmt.Sprintf("gemm: rounding constants of %d columns for %d", ldq, n))
	case len(q) < (3*tiles-1)*ldq+n:
		panic(fmt.Sprintf("gemm: rounding constants of %d tiles need %d floats, have %d", tiles, (3*tiles-1)*ldq+n, len(q)))
	}
	for i, off := range rowsB {
		if off < 0 || off+n > len(b) {
			panic(fmt.Sprintf("gemm: row %d of B at offset %d (length %d) lies outside B's %d elements", i, off, n, len(b)))
		}
	}
	for p0 := 0; p0 < k; p0 += KBlock {
		kc := min(KBlock, k-p0)
		var beta float32
		if p0 > 0 {
			beta = 1
		}
		t0 := p0 / tile
		first := tile - p0%tile
		for j0 := 0; j0 < n; j0 += roundedNR {
			cols := min(roundedNR, n-j0)
			for r := range panels {
				i0 := r * roundedMR
				kern(kc, &pa[r*roundedMR*k+p0*roundedMR], 1, roundedMR, &b[j0], &rowsB[p0],
					&c[i0*ldc+j0], ldc, min(roundedMR, m-i0), cols, 1, beta,
					&q[3*t0*ldq+j0], ldq, first, tile)
			}
		}
	}
	return true
}
