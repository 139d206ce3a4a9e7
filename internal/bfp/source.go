package bfp

import (
	"fmt"
	"runtime"
)

// A Source produces the rows of a stored matrix on demand, for operands
// that are never built whole: a convolution's im2col matrix, whose rows
// are receptive fields of an image. QuantiseSource asks it for a few rows
// at a time and quantises them while they are in cache, so the FP32
// matrix is never written out, only its quantised copy.
type Source interface {
	// Width returns the number of columns of the stored matrix.
	Width() int
	// Fill writes stored rows [r0, r1) into dst, row r0 first, Width()
	// floats per row. It is called from several goroutines at once, for
	// disjoint ranges; scratch is the calling goroutine's own buffer,
	// which Fill may grow and use.
	Fill(dst []float32, r0, r1 int, scratch *[]float32)
	// RowBlock returns a number of rows that Fill produces most cheaply
	// in aligned multiples of (a convolution's positions per image), or 1.
	RowBlock() int
}

// sourceChunk is the number of floats QuantiseSource asks a Source for at
// a time (512 KiB), so that the rows are still in the L2 cache when they
// are quantised; chunks are rounded to RowBlock when that costs at most
// twice as much.
const sourceChunk = 1 << 17

// QuantiseSource is Quantise for an operand given by a Source: dst gets
// the same values, exponents and NonFinite count as Quantise of the
// stored matrix from row r0 on (the matrix that src would fill),
//
//	Quantise(dst, stored[r0*width:], width, rows, k, strided)
//
// that is, vector v is stored row r0+v (its first k columns) when strided
// is false, and stored column v (rows r0 … r0+k-1) when it is true. It
// uses the same kernels on the same values, so the result is bit for bit
// that of Quantise, stochastic rounding included (it draws one key, as
// Quantise does, and rounds each element with the number for its index).
func (q *Quantiser) QuantiseSource(dst *Matrix, src Source, r0, rows, k int, strided bool) error {
	dst.detach()
	dst.Rows, dst.K, dst.Tile, dst.KMajor, dst.NonFinite = rows, k, q.format.Tile, strided, 0
	dst.Values = grow(dst.Values, rows*k)
	dst.Exp = grow(dst.Exp, rows*dst.Tiles())
	dst.zero, dst.zeroKnown = grow(dst.zero, rows*dst.Tiles()), false
	if rows == 0 || k == 0 {
		dst.zeroKnown = true
		return nil
	}
	width := src.Width()
	if strided && width < rows || !strided && width < k || r0 < 0 {
		return fmt.Errorf("source of width %d cannot give %d vectors of %d from row %d", width, rows, k, r0)
	}
	tiles := dst.Tiles()
	nw := 1
	if rows*k >= q.minParallel() {
		nw = min(runtime.GOMAXPROCS(0), rows/8+1)
		if strided {
			nw = min(runtime.GOMAXPROCS(0), tiles)
		}
	}
	q.job = quantJob{dst: dst, source: src, r0: r0, nw: nw, tiles: tiles, byTiles: strided, fromSource: true, rows: rows}
	q.drawKey()
	dst.NonFinite = q.runParts()
	dst.zeroKnown = true
	return nil
}

// chunkRows returns how many stored rows of the given width to fill at a
// time: about sourceChunk floats, rounded to a multiple of src.RowBlock()
// when one block is at most twice that.
func chunkRows(src Source, width int) int {
	n := max(1, sourceChunk/width)
	if b := src.RowBlock(); b > 1 && b*width <= 2*sourceChunk {
		n = max(b, n/b*b)
	}
	return n
}

// sourceRows quantises vectors [v0, v1) of a row-layout dst, stored rows
// r0+v0 … r0+v1-1 of src, a chunk at a time. Chunks end at multiples of
// chunkRows in stored rows, so that they cover whole images.
func (q *Quantiser) sourceRows(dst *Matrix, src Source, r0, v0, v1 int, w *worker) {
	width, k, tiles := src.Width(), dst.K, dst.Tiles()
	chunk := chunkRows(src, width)
	for v := v0; v < v1; {
		end := min(v1, ((r0+v)/chunk+1)*chunk-r0)
		n := end - v
		w.rows = grow(w.rows, n*width)
		src.Fill(w.rows, r0+v, r0+end, &w.fill)
		view := Matrix{Rows: n, K: k, Tile: dst.Tile, Values: dst.Values[v*k : end*k], Exp: dst.Exp[v*tiles : end*tiles], zero: dst.zero[v*tiles : end*tiles]}
		q.quantiseRange(&view, v*k, w.rows, width, 0, n, 0, tiles, w)
		v = end
	}
}

// sourceTiles quantises tiles [t0, t1) of every vector of a KMajor dst
// (stored rows r0+t0·Tile … of src), a few whole tiles at a time. Chunks
// end where a multiple of chunkRows in stored rows falls on a tile
// boundary when one does (whole images, so that no image is padded for
// two chunks), else after at least one tile.
func (q *Quantiser) sourceTiles(dst *Matrix, src Source, r0, t0, t1 int, w *worker) {
	width, k, h := src.Width(), dst.K, dst.Tile
	chunk := chunkRows(src, width)
	for t := t0; t < t1; {
		end := ((r0+t*h)/chunk + 1) * chunk // the next aligned stored row
		te := min(t1, max(t+1, (end-r0)/h))
		p0, p1 := t*h, min(te*h, k)
		w.rows = grow(w.rows, (p1-p0)*width)
		src.Fill(w.rows, r0+p0, r0+p1, &w.fill)
		q.quantiseColumns(dst, w.rows, width, p0, 0, dst.Rows, t, te, w)
		t = te
	}
}
