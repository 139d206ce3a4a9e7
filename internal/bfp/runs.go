package bfp

import (
	"fmt"
	"math"
)

// Runs. A convolution's im2col matrix, transposed, is a matrix whose rows
// are runs of the zero-padded image (split into phases at strides above
// 1): row p (kernel entry (c, ky, kx)) over the positions of an output
// grid starts at a fixed offset of the padded image (see package conv's
// implicit GEMM). Its
// columns are the receptive fields, the vectors BFP quantises along K.
// Filling the im2col rows gathers a few floats at a time, nine times over
// for a 3×3 kernel; a Runs operand is never written out at all. ScaleRuns
// finds its scales from the runs (one pass of contiguous reads), the GEMM
// rounds the runs as it reads them (gemm.SgemmRoundedRowsB, with the
// constants in Consts), and a view (Matrix.ViewRuns) rounds the single
// values a backend's corrections ask for.

// Runs is an operand of Rows vectors of length K stored as the columns of
// runs of a source, quantised along K, whose values are not stored.
type Runs struct {
	// Scales holds the exponents and zero-block flags (Values unused).
	Scales Matrix
	// Consts holds the rounding constants of every tile t and vector v:
	// the magic number m (1.5·2^(23+e)), the clamp l (qmax·2^e) and -l at
	// Consts[3t·Rows + v], [(3t+1)·Rows + v] and [(3t+2)·Rows + v], as
	// gemm.SgemmRoundedRowsB reads them. Element x rounds to
	// max(min((x + m) - m, l), -l) in FP32.
	Consts []float32
}

// ShapeRuns shapes r for rows vectors of length k, reusing its buffers.
func (q *Quantiser) ShapeRuns(r *Runs, rows, k int) {
	m := &r.Scales
	m.detach()
	m.Rows, m.K, m.Tile, m.KMajor, m.NonFinite = rows, k, q.format.Tile, true, 0
	m.Values = m.Values[:0]
	m.Exp = grow(m.Exp, rows*m.Tiles())
	m.zero, m.zeroKnown = grow(m.zero, rows*m.Tiles()), true
	r.Consts = grow(r.Consts, 3*m.Tiles()*rows)
}

// ScaleRuns sets the scales and rounding constants of vectors
// [v0, v0+n) of r (shaped by ShapeRuns) from runs of src: element p of
// vector v0+i is src[off[p]+i]. Its exponents and zero-block flags are
// those Quantise gives for the stored matrix of the runs, and rounding
// with its constants gives Quantise's values (to nearest), bit for bit but
// for the sign of zeros, which no product sees. It reports false when a
// block holds Inf or NaN, or has a scale outside the range the FP32
// rounding handles (2^-126 … 2^104): then the operand must be quantised
// another way. Nearest rounding only; it runs on the calling goroutine.
func (q *Quantiser) ScaleRuns(r *Runs, v0, n int, src []float32, off []int) (bool, error) {
	m := &r.Scales
	if q.format.Rounding != Nearest {
		return false, fmt.Errorf("bfp: ScaleRuns rounds to nearest only, not %s", q.format.Rounding)
	}
	if len(off) != m.K || v0 < 0 || n < 0 || v0+n > m.Rows {
		return false, fmt.Errorf("bfp: ScaleRuns of vectors [%d, %d) of %d of length %d with %d offsets", v0, v0+n, m.Rows, m.K, len(off))
	}
	for _, o := range off {
		if o < 0 || o+n > len(src) {
			return false, fmt.Errorf("bfp: run at %d of %d floats passes the end of a source of %d", o, n, len(src))
		}
	}
	if n == 0 {
		return true, nil
	}
	if len(q.work) == 0 {
		q.work = append(q.work, worker{})
	}
	w := &q.work[0]
	w.maxBits = grow(w.maxBits, n)
	rows, k, h, tiles := m.Rows, m.K, m.Tile, m.Tiles()
	shift := int32(q.format.Bits - 2)
	qmax := float32(q.format.MaxMantissa())
	for t := range tiles {
		mb := w.maxBits
		clear(mb)
		for p := t * h; p < min((t+1)*h, k); p++ {
			maxAbsBitsRow(mb, src[off[p]:off[p]+n])
		}
		// The scales as columnScales finds them (see exponent), with only
		// the constants the FP32 rounding needs.
		magic := r.Consts[3*t*rows+v0 : 3*t*rows+v0+n]
		lim := r.Consts[(3*t+1)*rows+v0 : (3*t+1)*rows+v0+n]
		neg := r.Consts[(3*t+2)*rows+v0 : (3*t+2)*rows+v0+n]
		for i, b := range mb {
			at := (v0+i)*tiles + t
			if b < minNormal { // flushed to zero: any magic number rounds it to +0
				m.Exp[at], m.zero[at] = 0, true
				magic[i], lim[i], neg[i] = 0x1.8p23, qmax, -qmax
				continue
			}
			e := int32(b>>23) - 127 - shift
			if b >= nonFinite || e < minFastExp || e > maxMagicExp {
				if b >= nonFinite {
					m.NonFinite++
				}
				return false, nil
			}
			m.Exp[at], m.zero[at] = e, false
			magic[i] = math.Float32frombits(uint32(150+e)<<23 | 0x400000)
			lim[i] = qmax * math.Float32frombits(uint32(127+e)<<23)
			neg[i] = -lim[i]
		}
	}
	return true, nil
}

// runsView is what a view of a Runs operand reads its values from.
type runsView struct {
	consts          []float32
	rows            int // the Runs' vectors, the stride of consts
	src             []float32
	off             []int
	imageLen, width int
	cols            []int32
}

// value returns element p of vector v of the view.
func (rv *runsView) value(v, p, tile int) float32 {
	c := int(rv.cols[v])
	x := rv.src[c/rv.width*rv.imageLen+c%rv.width+rv.off[p]]
	t := p / tile
	mg, l := rv.consts[3*t*rv.rows+c], rv.consts[(3*t+1)*rv.rows+c]
	return max(min((x+mg)-mg, l), -l)
}

// ViewRuns makes m a view of vectors cols of r, all of whose blocks
// ScaleRuns scaled (it reported true), with their exponents and zero-block
// flags (copied) and their values rounded on demand (through At, Mantissa
// and TileDot) from the runs of src: vector c of r is column c mod width
// of segment ⌊c/width⌋ of src (segments imageLen floats apart), element p
// at that column's place from off[p] on. A view is what a backend's
// product function sees of a chunk of an operand whose product was
// computed from the runs directly (a convolution's output positions: the
// columns of the grid of every image less the grid's padding columns);
// Product refuses it.
func (m *Matrix) ViewRuns(r *Runs, cols []int32, src []float32, imageLen, width int, off []int) error {
	s := &r.Scales
	tiles := s.Tiles()
	if len(off) != s.K || width <= 0 || imageLen < 0 {
		return fmt.Errorf("bfp: a view of runs of %d floats with %d offsets of vectors of length %d", width, len(off), s.K)
	}
	if !m.IsView() { // keep the matrix's own Values for later
		m.owned = m.Values
	}
	m.Rows, m.K, m.Tile, m.KMajor, m.NonFinite = len(cols), s.K, s.Tile, true, 0
	m.Values = nil
	if m.view == nil {
		m.view = new(runsView)
	}
	*m.view = runsView{consts: r.Consts, rows: s.Rows, src: src, off: off, imageLen: imageLen, width: width, cols: cols}
	m.Exp = grow(m.Exp, len(cols)*tiles)
	m.zero, m.zeroKnown = grow(m.zero, len(cols)*tiles), true
	for v, c := range cols {
		if c < 0 || int(c) >= s.Rows {
			return fmt.Errorf("bfp: a view of vector %d of %d", c, s.Rows)
		}
		// Element by element: a view's vectors are many and their tiles
		// few, where copy's call costs more than the copying.
		at := int(c) * tiles
		exp, zero := m.Exp[v*tiles:(v+1)*tiles], m.zero[v*tiles:(v+1)*tiles]
		for t := range exp {
			exp[t], zero[t] = s.Exp[at+t], s.zero[at+t]
		}
	}
	return nil
}

// ViewedVector returns which vector of the viewed operand vector v of a
// view is.
func (m *Matrix) ViewedVector(v int) int { return int(m.view.cols[v]) }

// IsView reports whether m is a view (see ViewRuns).
func (m *Matrix) IsView() bool { return m.view != nil && m.view.cols != nil }

// detach makes a view an ordinary matrix again, with its own Values
// buffer back, before it is filled.
func (m *Matrix) detach() {
	if m.IsView() {
		m.Values, m.owned = m.owned, nil
		*m.view = runsView{}
	}
}
