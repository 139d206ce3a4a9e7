package gemm

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
	if pr.transA {
		// op(A)(i, p) = a[p·lda + i]: for each p the mr values are contiguous.
		for p := 0; p < kc; p++ {
			src := pr.a[(p0+p)*pr.lda+i0 : (p0+p)*pr.lda+i0+rows]
			d := dst[p*mr : p*mr+mr]
			copy(d, src)
			clear(d[rows:])
		}
		return
	}
	// op(A)(i, p) = a[i·lda + p]: each row is contiguous; interleave them.
	for r := 0; r < rows; r++ {
		src := pr.a[(i0+r)*pr.lda+p0 : (i0+r)*pr.lda+p0+kc]
		for p, v := range src {
			dst[p*mr+r] = v
		}
	}
	if rows < mr {
		for p := 0; p < kc; p++ {
			clear(dst[p*mr+rows : p*mr+mr])
		}
	}
}

// packPanelB writes rows [p0, p0+kc) and columns [j0, j0+cols) of op(B)
// into dst as one micro-panel of width nr: dst[p·nr + j] = op(B)(p0+p, j0+j),
// and zero for cols ≤ j < nr.
func (pr *problem) packPanelB(dst []float32, p0, kc, j0, cols, nr int) {
	dst = dst[:kc*nr]
	if !pr.transB {
		// op(B)(p, j) = b[p·ldb + j]: rows are contiguous.
		for p := 0; p < kc; p++ {
			d := dst[p*nr : p*nr+nr]
			copy(d, pr.b[(p0+p)*pr.ldb+j0:(p0+p)*pr.ldb+j0+cols])
			clear(d[cols:])
		}
		return
	}
	// op(B)(p, j) = b[j·ldb + p]: each column of op(B) is contiguous.
	for j := 0; j < cols; j++ {
		src := pr.b[(j0+j)*pr.ldb+p0 : (j0+j)*pr.ldb+p0+kc]
		for p, v := range src {
			dst[p*nr+j] = v
		}
	}
	if cols < nr {
		for p := 0; p < kc; p++ {
			clear(dst[p*nr+cols : p*nr+nr])
		}
	}
}
