package gemm

import "github.com/mirage-go/mirage/internal/vec"

// Packing copies a block of op(A) or op(B) into the order the micro-kernel
// reads it, so that the kernel streams contiguous memory whatever the
// operand's storage and transposition: a transposed operand costs nothing
// beyond the copy that packing makes anyway. Panels are padded with zeros
// to the full tile height or width, so the kernel never needs a short loop.

// packPanelA writes rows [i0, i0+rows) and columns [p0, p0+kc) of op(A) into
// dst as one micro-panel of height mr: dst[p·mr + r] = op(A)(i0+r, p0+p),
// and zero for rows ≤ r < mr.
func (pr *problem) packPanelA(dst []float32, i0, rows, p0, kc, mr int) {
	dst = dst[:kc*mr]
	if rows < mr {
		// One clear for the padding rather than one per step.
		clear(dst)
	}
	if pr.transA {
		// op(A)(i, p) = a[p·lda + i]: for each p the rows values are contiguous.
		for p := 0; p < kc; p++ {
			copyShort(dst[p*mr:p*mr+rows], pr.a[(p0+p)*pr.lda+i0:(p0+p)*pr.lda+i0+rows])
		}
		return
	}
	// op(A)(i, p) = a[i·lda + p]: each row is contiguous; interleave them.
	if pr.spec.vecPack && rows >= 8 {
		// Eight rows at a time, transposed in registers. (AVX-512 gathers,
		// one column of the panel per step, were 2–5× slower than this on
		// an AMD Zen 5, and than the loop below for fewer than 8 rows.)
		transposeRows(dst, mr, pr.a[i0*pr.lda+p0:], pr.lda, rows, kc)
		return
	}
	for r := 0; r < rows; r++ {
		src := pr.a[(i0+r)*pr.lda+p0 : (i0+r)*pr.lda+p0+kc]
		for p, v := range src {
			dst[p*mr+r] = v
		}
	}
}

// packPanelB writes rows [p0, p0+kc) and columns [j0, j0+cols) of op(B)
// into dst as one micro-panel of width nr: dst[p·nr + j] = op(B)(p0+p, j0+j),
// and zero for cols ≤ j < nr.
func (pr *problem) packPanelB(dst []float32, p0, kc, j0, cols, nr int) {
	dst = dst[:kc*nr]
	if cols < nr {
		clear(dst)
	}
	if !pr.transB {
		// op(B)(p, j) = b[p·ldb + j]: rows are contiguous.
		for p := 0; p < kc; p++ {
			row := pr.bRow(p0+p) + j0
			copyShort(dst[p*nr:p*nr+cols], pr.b[row:row+cols])
		}
		return
	}
	// op(B)(p, j) = b[j·ldb + p]: each column of op(B) is contiguous, and
	// the panel is their transpose (stored rows a stride apart, not rows
	// given by offsets).
	if pr.spec.vecPack && pr.rowsB == nil && cols >= 8 {
		transposeRows(dst, nr, pr.b[j0*pr.ldb+p0:], pr.ldb, cols, kc)
		return
	}
	for j := 0; j < cols; j++ {
		row := pr.bRow(j0+j) + p0
		src := pr.b[row : row+kc]
		for p, v := range src {
			dst[p*nr+j] = v
		}
	}
}

// bRow returns where stored row i of B starts: i·ldb, or rowsB[i] when
// B's rows are given by offsets (SgemmRowsB).
func (pr *problem) bRow(i int) int {
	if pr.rowsB != nil {
		return pr.rowsB[i]
	}
	return i * pr.ldb
}

// packBlockA packs rows [i0, i0+rows) and columns [p0, p0+kc) of op(A) as
// consecutive micro-panels of height mr (the last one zero-padded).
// A transposed A is read row by row across all panels, so memory is read
// sequentially rather than in mr-float pieces a row stride apart.
func (pr *problem) packBlockA(dst []float32, i0, rows, p0, kc, mr int) {
	panels := (rows + mr - 1) / mr
	if !pr.transA {
		for q := 0; q < panels; q++ {
			pr.packPanelA(dst[q*kc*mr:], i0+q*mr, min(mr, rows-q*mr), p0, kc, mr)
		}
		return
	}
	full := rows / mr
	if pr.spec.vecPack && full > 0 {
		// The full panels in one pass, the tail panel below.
		_ = pr.a[(p0+kc-1)*pr.lda+i0+full*mr-1]
		_ = dst[(full-1)*kc*mr+kc*mr-1]
		packStrips(&dst[0], &pr.a[p0*pr.lda+i0], pr.lda, kc, mr, full, kc*mr)
		if full*mr == rows {
			return
		}
	}
	for p := 0; p < kc; p++ {
		src := pr.a[(p0+p)*pr.lda+i0 : (p0+p)*pr.lda+i0+rows]
		for q := 0; q < full && !pr.spec.vecPack; q++ {
			copyShort(dst[q*kc*mr+p*mr:q*kc*mr+p*mr+mr], src[q*mr:q*mr+mr])
		}
		if tail := rows - full*mr; tail > 0 {
			d := dst[full*kc*mr+p*mr : full*kc*mr+p*mr+mr]
			copyShort(d[:tail], src[full*mr:])
			clear(d[tail:])
		}
	}
}

// copyShort copies src into dst (of equal length). Packing copies rows of
// one tile width, or less at an edge, millions of times. Copies of the
// tile widths are made of 16-byte array copies, each one vector load and
// store: the compiler (Go 1.26) turns array copies of 24 bytes and more
// into runtime.memmove calls, with which BenchmarkPack's B took about
// 1.4× as long. The AVX-512 kernel sets pack with packStrips instead.
func copyShort(dst, src []float32) {
	switch len(src) {
	case 6:
		copy4(dst, src, 0)
		*(*[2]float32)(dst[4:6]) = *(*[2]float32)(src[4:6])
	case 8:
		copy4(dst, src, 0)
		copy4(dst, src, 4)
	case 12:
		copy4(dst, src, 0)
		copy4(dst, src, 4)
		copy4(dst, src, 8)
	case 16:
		copy4(dst, src, 0)
		copy4(dst, src, 4)
		copy4(dst, src, 8)
		copy4(dst, src, 12)
	case 24, 32:
		for i := 0; i < len(src); i += 4 {
			copy4(dst, src, i)
		}
	default:
		if len(src) > 32 {
			copy(dst, src)
			return
		}
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = v
		}
	}
}

// copy4 copies the four floats at i of src into dst.
func copy4(dst, src []float32, i int) {
	*(*[4]float32)(dst[i : i+4]) = *(*[4]float32)(src[i : i+4])
}

// packBlockB packs panels [q0, q1) of the B block with rows [p0, p0+kc) and
// columns [j0, j0+nc) of op(B): panel q holds columns j0+q·nr onwards, at
// dst[q·kc·nr:].
func (pr *problem) packBlockB(dst []float32, j0, nc, p0, kc, q0, q1 int) {
	nr := pr.spec.nr
	if pr.spec.vecPack && !pr.transB && pr.rowsB == nil {
		// The full panels row by row, each row of B read in one
		// sequential run (which the hardware prefetchers follow, where
		// panel by panel they would see one short run per row).
		if full := min(q1, nc/nr); full > q0 {
			_ = pr.b[(p0+kc-1)*pr.ldb+j0+full*nr-1]
			_ = dst[(full-1)*kc*nr+kc*nr-1]
			packStrips(&dst[q0*kc*nr], &pr.b[p0*pr.ldb+j0+q0*nr], pr.ldb, kc, nr, full-q0, kc*nr)
			q0 = full
		}
	}
	for q := q0; q < q1; q++ {
		pr.packPanelB(dst[q*kc*nr:], p0, kc, j0+q*nr, min(nr, nc-q*nr), nr)
	}
}

// packStripsGo is the portable packStrips: for p < rows and q < panels,
// dst[q·pstride + p·w + j] = src[p·ld + q·w + j] for j < w.
func packStripsGo(dst, src []float32, ld, rows, w, panels, pstride int) {
	for p := 0; p < rows; p++ {
		for q := 0; q < panels; q++ {
			copy(dst[q*pstride+p*w:q*pstride+p*w+w], src[p*ld+q*w:p*ld+q*w+w])
		}
	}
}

// transposeRows writes dst[p·ld + r] = src[r·lds + p] for r < rows and
// p < n, rows ≥ 8, eight rows at a time transposed in registers
// (vec.Transpose8). A row count that is no multiple of 8 takes its last
// eight rows, overlapping the previous group (rows written twice get the
// same values).
func transposeRows(dst []float32, ld int, src []float32, lds, rows, n int) {
	for r := 0; r < rows; r += 8 {
		r = min(r, rows-8)
		vec.Transpose8(dst[r:], ld, src[r*lds:], lds, n)
	}
}
