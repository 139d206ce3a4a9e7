package gemm

// The blocked loops around the micro-kernel (GotoBLAS's five loops): over
// B blocks (ncBlock columns), k blocks (kcBlock), A blocks (mcBlock rows),
// then B and A micro-panels.

// bInPlace reports whether B is read in place rather than packed: when
// its panels are reused by few tiles (see inPlaceReuseB), or already in
// packed order (rows of exactly nr floats). A transposed B never is, as
// the kernel needs its rows contiguous, nor a B given by row offsets
// (unless the kernel has an indexed variant, which reads them through
// the offset table).
func (pr *problem) bInPlace() bool {
	if pr.rowsB != nil {
		return !pr.transB && pr.spec.indexed != nil
	}
	mPanels := (pr.m + pr.spec.mr - 1) / pr.spec.mr
	return !pr.transB && (mPanels <= inPlaceReuseB && !conflictStride(pr.ldb) || pr.ldb == pr.spec.nr)
}

// aInPlace reports whether A is read in place rather than packed by a
// worker whose columns span panelsB micro-panels of B: when few B panels
// reuse each A panel, when its rows are nearly packed already, and for
// SgemmRowsB (see computeBlock).
func (pr *problem) aInPlace(panelsB int) bool {
	return panelsB <= inPlaceReuse && !conflictStride(pr.lda) || (!pr.transA && pr.lda <= compactRow) ||
		(pr.rowsB != nil && !conflictStride(pr.lda))
}

// compute runs the blocked product over the worker's ranges on its own.
func (w *worker) compute() {
	pr := &w.out
	if pr.transC && !pr.transB {
		w.computeTransposed()
		return
	}
	nr := pr.spec.nr
	bInPlace := pr.bInPlace()
	for jc := w.n0; jc < w.n1; jc += ncBlock {
		nc := min(ncBlock, w.n1-jc)
		panels := (nc + nr - 1) / nr
		for pc := w.k0; pc < w.k1; pc += kcBlock {
			kc := min(kcBlock, w.k1-pc)
			if bInPlace {
				w.computeBlock(jc, nc, pc, kc, nil)
				continue
			}
			w.bufB = grow(w.bufB, panels*kc*nr)
			pr.packBlockB(w.bufB, jc, nc, pc, kc, 0, panels)
			w.computeBlock(jc, nc, pc, kc, w.bufB)
		}
	}
}

// computeBlock multiplies the worker's rows of A, columns [pc, pc+kc), by
// the B block of rows [pc, pc+kc) and columns [jc, jc+nc): packedB, or B in
// place when packedB is nil.
func (w *worker) computeBlock(jc, nc, pc, kc int, packedB []float32) {
	pr := &w.out
	spec := pr.spec
	mr, nr := spec.mr, spec.nr
	beta := pr.beta
	if pc != w.k0 {
		beta = 1
	}
	panelsB := (nc + nr - 1) / nr
	lastCols := nc - (panelsB-1)*nr
	if packedB == nil && lastCols < nr && !spec.maskedB {
		w.edgeB = grow(w.edgeB, kc*nr)
		pr.packPanelB(w.edgeB, pc, kc, jc+(panelsB-1)*nr, lastCols, nr)
	}
	// Rows of A at most compactRow floats apart are already nearly packed:
	// a micro-panel spans a few KiB (the input gradient's dY, 16 floats a
	// row), so packing it would only copy it.
	//
	// SgemmRowsB's A is a convolution's weights, the same for every image
	// (call): packing it would repeat one copy per image, while the rows
	// of a tile (a few KiB) stay in L1 when read in place.
	aInPlace := pr.aInPlace(panelsB)
	// A blocks of equal size, each at most mcBlock rows.
	height := w.m1 - w.m0
	blocks := (height + mcBlock - 1) / mcBlock
	mcStep := ((height+blocks-1)/blocks + mr - 1) / mr * mr
	w.tile = grow(w.tile, mr*nr)
	for ic := w.m0; ic < w.m1; ic += mcStep {
		mc := min(mcStep, w.m1-ic)
		panelsA := (mc + mr - 1) / mr
		lastRows := mc - (panelsA-1)*mr
		if aInPlace {
			if lastRows < mr {
				w.edgeA = grow(w.edgeA, kc*mr)
				pr.packPanelA(w.edgeA, ic+(panelsA-1)*mr, lastRows, pc, kc, mr)
			}
		} else {
			w.bufA = grow(w.bufA, panelsA*kc*mr)
			pr.packBlockA(w.bufA, ic, mc, pc, kc, mr)
		}
		fn := spec.fn
		if !aInPlace && packedB != nil && spec.packed != nil {
			fn = spec.packed
		}
		for qb := 0; qb < panelsB; qb++ {
			j := jc + qb*nr
			cols := min(nr, nc-qb*nr)
			var bp *float32
			var offsets *int // B's row offsets, for an indexed kernel
			psb := nr
			switch {
			case packedB != nil:
				bp = &packedB[qb*kc*nr]
			case cols < nr && !spec.maskedB:
				// (Also for rows given by offsets: a kernel without
				// column masks reads nr floats of each row.)
				bp = &w.edgeB[0]
			case pr.rowsB != nil:
				bp, offsets = &pr.b[j], &pr.rowsB[pc]
			default:
				bp, psb = &pr.b[pc*pr.ldb+j], pr.ldb
			}
			for qa := 0; qa < panelsA; qa++ {
				i := ic + qa*mr
				rows := min(mr, mc-qa*mr)
				var ap *float32
				rsa, psa := 1, mr
				switch {
				case !aInPlace:
					ap = &w.bufA[qa*kc*mr]
				case rows < mr:
					ap = &w.edgeA[0]
				default:
					ap, rsa, psa = pr.inPlaceA(i, pc)
					// A read once from memory (a convolution's forward
					// product): fetch the next tile's rows while this one
					// computes; the hardware prefetchers do not follow
					// mr short row streams well. A prefetching kernel
					// spreads the prefetches over its loop, so that they
					// overlap the arithmetic (1.6× faster than prefetchRows
					// on one core for ResNet-20 stage 1, which was itself
					// 10% faster than no prefetch).
					if !pr.transA && panelsB == 1 && offsets == nil && !pr.transC {
						pf := 0 // the next tile, if full and in place
						if i+2*mr <= w.m1 {
							pf = mr * pr.lda
						}
						if spec.prefetching != nil {
							spec.prefetching(kc, ap, rsa, psa, bp, psb, &pr.c[i*pr.ldc+j], pr.ldc, rows, cols, pr.alpha, beta, pf)
							continue
						}
						if pf != 0 {
							prefetchRows(&pr.a[(i+mr)*pr.lda+pc], pr.lda, mr, kc)
						}
					}
				}
				if offsets != nil {
					spec.indexed(kc, ap, rsa, psa, bp, offsets, &pr.c[i*pr.ldc+j], pr.ldc, rows, cols, pr.alpha, beta)
					continue
				}
				if !pr.transC {
					if pfB := w.nextPanelB(jc, nc, pc, kc, j, qa); pfB != 0 && packedB == nil && spec.prefetchingB != nil {
						spec.prefetchingB(kc, ap, rsa, psa, bp, psb, &pr.c[i*pr.ldc+j], pr.ldc, rows, cols, pr.alpha, beta, pfB)
						continue
					}
					fn(kc, ap, rsa, psa, bp, psb, &pr.c[i*pr.ldc+j], pr.ldc, rows, cols, pr.alpha, beta)
					continue
				}
				spec.fn(kc, ap, rsa, psa, bp, psb, &w.tile[0], nr, mr, cols, 1, 0)
				pr.mergeTransposed(w.tile, nr, i, j, rows, cols, beta)
			}
		}
	}
}

// nextPanelB returns, for the tile of tile row qa whose B panel starts at
// column j of an in-place B block (rows [pc, pc+kc), columns [jc, jc+nc)),
// which line of the next panel its kernel should prefetch, as a distance
// in floats from the panel (zero for none). A B read in place is read from
// memory by the first tile of each panel: the first two tiles of a panel
// fetch the next panel's two lines per row (its first and second 16
// floats), while their arithmetic runs on a panel already in cache. The
// panel after a block's last is the first of the next k block.
func (w *worker) nextPanelB(jc, nc, pc, kc, j, qa int) int {
	pr := &w.out
	if qa >= 2 || pr.rowsB != nil || pr.transB {
		return 0
	}
	line := 16 * qa
	if j+pr.spec.nr < jc+nc {
		return pr.spec.nr + line
	}
	if pc+kc < w.k1 {
		return kc*pr.ldb + jc - j + line
	}
	return 0
}

// computeTransposed computes a transposed product (see transposeHelps)
// with both operands read in place (only edge panels are packed). The
// worker's whole block of the product (at most maxPartial floats) is
// accumulated in a buffer that stands in for C (loaded from it when
// beta ≠ 0) and stored transposed once at the end, so each k block is
// visited once: its B panels (kc×nr) stay in L1 while the A panels stream
// past, and its A rows are read from memory once. (Packing A here was
// measured 1.7× slower: the product is bound by reading A, and the copy
// does not overlap the arithmetic.) The kernels see the same k blocks, alpha and beta as in the
// direct path, so the result is bit-identical to it.
func (w *worker) computeTransposed() {
	pr := &w.out
	spec := pr.spec
	mr, nr := spec.mr, spec.nr
	rows := w.m1 - w.m0
	panelsA := (rows + mr - 1) / mr
	panelsB := (w.n1 - w.n0 + nr - 1) / nr
	lastRows := rows - (panelsA-1)*mr
	lastCols := w.n1 - w.n0 - (panelsB-1)*nr
	// block holds the product in tile-padded row-major order, ld = width.
	width := panelsB * nr
	w.tile = grow(w.tile, panelsA*mr*width)
	block := w.tile
	if pr.beta != 0 {
		for i := w.m0; i < w.m1; i++ {
			for j := w.n0; j < w.n1; j++ {
				block[(i-w.m0)*width+j-w.n0] = pr.c[j*pr.ldc+i]
			}
		}
	}
	for pc := w.k0; pc < w.k1; pc += kcBlock {
		kc := min(kcBlock, w.k1-pc)
		beta := pr.beta
		if pc != w.k0 {
			beta = 1
		}
		if lastRows < mr {
			w.edgeA = grow(w.edgeA, kc*mr)
			pr.packPanelA(w.edgeA, w.m1-lastRows, lastRows, pc, kc, mr)
		}
		if lastCols < nr && !spec.maskedB {
			w.edgeB = grow(w.edgeB, kc*nr)
			pr.packPanelB(w.edgeB, pc, kc, w.n1-lastCols, lastCols, nr)
		}
		for qb := 0; qb < panelsB; qb++ {
			j := w.n0 + qb*nr
			cols := min(nr, w.n1-j)
			var bp *float32
			psb := nr
			if qb < panelsB-1 || lastCols == nr || spec.maskedB {
				bp, psb = &pr.b[pc*pr.ldb+j], pr.ldb
			} else {
				bp = &w.edgeB[0]
			}
			for qa := 0; qa < panelsA; qa++ {
				var ap *float32
				rsa, psa := 1, mr
				if qa == panelsA-1 && lastRows < mr {
					ap = &w.edgeA[0]
				} else {
					ap, rsa, psa = pr.inPlaceA(w.m0+qa*mr, pc)
				}
				spec.fn(kc, ap, rsa, psa, bp, psb, &block[qa*mr*width+qb*nr], width, mr, cols, pr.alpha, beta)
			}
		}
	}
	for i := w.m0; i < w.m1; i++ {
		for j := w.n0; j < w.n1; j++ {
			pr.c[j*pr.ldc+i] = block[(i-w.m0)*width+j-w.n0]
		}
	}
}
