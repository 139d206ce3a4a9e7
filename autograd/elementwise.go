package autograd

import (
	"fmt"
	"slices"

	"github.com/mirage-go/mirage/internal/vec"
)

// maxInlineDims is the rank up to which the broadcast bookkeeping lives
// in fixed arrays rather than allocated slices (higher ranks still work).
const maxInlineDims = 8

// broadcast describes how two operands map onto their NumPy-broadcast result.
type broadcast struct {
	shape    []int
	n        int
	stridesA []int // per output dim; 0 where a is broadcast
	stridesB []int

	// The same iteration with adjacent dimensions merged wherever both
	// operands step through them contiguously, so that the innermost run
	// is as long as possible (the whole tensor when shapes agree).
	runShape, runStridesA, runStridesB []int

	// Backing storage for the slices above, so that an elementwise op
	// allocates nothing for its bookkeeping.
	store [6][maxInlineDims]int
}

// inline returns store[i][:n], or a new slice when n exceeds the inline size.
func (bc *broadcast) inline(i, n int) []int {
	if n <= maxInlineDims {
		return bc.store[i][:n]
	}
	return make([]int, n)
}

// newBroadcast fills bc (a pointer, so that the inline storage is not
// copied away from the slices that point into it).
func newBroadcast(bc *broadcast, op string, a, b []int) {
	nd := max(len(a), len(b))
	shape := bc.inline(0, nd)
	for i := 0; i < nd; i++ {
		da, db := dimFromEnd(a, nd-1-i), dimFromEnd(b, nd-1-i)
		switch {
		case da == db, db == 1:
			shape[i] = da
		case da == 1:
			shape[i] = db
		default:
			panic(fmt.Sprintf("autograd.%s: shapes %v and %v do not broadcast (dimension %d: %d vs %d)", op, slices.Clone(a), slices.Clone(b), i, da, db))
		}
	}
	bc.shape, bc.n = shape, numel(shape)
	bc.stridesA = bcastStrides(bc.inline(1, nd), a, shape)
	bc.stridesB = bcastStrides(bc.inline(2, nd), b, shape)
	bc.coalesce()
}

// coalesce fills the run* fields: dimension d merges into the one before it
// when, for both operands, stepping the outer dimension once equals
// stepping the inner one through its whole extent.
func (bc *broadcast) coalesce() {
	nd := max(len(bc.shape), 1)
	shape, sa, sb := bc.inline(3, nd)[:0], bc.inline(4, nd)[:0], bc.inline(5, nd)[:0]
	for d, n := range bc.shape {
		if n == 1 {
			continue // size-1 dimensions never move the indices
		}
		if k := len(shape) - 1; k >= 0 &&
			sa[k] == bc.stridesA[d]*n && sb[k] == bc.stridesB[d]*n {
			shape[k] *= n
			sa[k], sb[k] = bc.stridesA[d], bc.stridesB[d]
			continue
		}
		shape = append(shape, n)
		sa = append(sa, bc.stridesA[d])
		sb = append(sb, bc.stridesB[d])
	}
	if len(shape) == 0 { // a scalar, or all dimensions of size 1
		shape, sa, sb = append(shape, 1), append(sa, 0), append(sb, 0)
	}
	bc.runShape, bc.runStridesA, bc.runStridesB = shape, sa, sb
}

// runs calls f once per innermost run of the broadcast iteration: output
// elements o0 … o0+n−1 pair with a[ia + j·sa] and b[ib + j·sb], j < n.
// The ops loop over the run themselves, so the per-call cost is paid per
// run, not per element.
func (bc *broadcast) runs(f func(o0, ia, ib, n, sa, sb int)) {
	if bc.n == 0 {
		return
	}
	bc.runsFrom(0, bc.n/bc.runShape[len(bc.runShape)-1], f)
}

// runsFrom is runs for the innermost runs r0 … r1−1 only, in the same
// order.
func (bc *broadcast) runsFrom(r0, r1 int, f func(o0, ia, ib, n, sa, sb int)) {
	nd := len(bc.runShape)
	inner, sa, sb := bc.runShape[nd-1], bc.runStridesA[nd-1], bc.runStridesB[nd-1]
	var idxStore [maxInlineDims]int
	var idx []int
	if nd <= maxInlineDims {
		idx = idxStore[:nd]
	} else {
		idx = make([]int, nd)
	}
	// The indices of run r0 in the outer dimensions, last fastest.
	ia, ib := 0, 0
	for d, q := nd-2, r0; d >= 0; d-- {
		idx[d] = q % bc.runShape[d]
		q /= bc.runShape[d]
		ia += idx[d] * bc.runStridesA[d]
		ib += idx[d] * bc.runStridesB[d]
	}
	for o := r0 * inner; o < r1*inner; o += inner {
		f(o, ia, ib, inner, sa, sb)
		for d := nd - 2; d >= 0; d-- {
			idx[d]++
			ia += bc.runStridesA[d]
			ib += bc.runStridesB[d]
			if idx[d] < bc.runShape[d] {
				break
			}
			ia -= bc.runStridesA[d] * idx[d]
			ib -= bc.runStridesB[d] * idx[d]
			idx[d] = 0
		}
	}
}

// parallelRuns is bc.runs on up to GOMAXPROCS goroutines, for an f that
// computes each output element on its own from the operands (a forward
// elementwise op): the runs, or pieces of a single long run, are handed
// out in chunks, and every element gets the same value as on one
// goroutine. Not for loops that add into an operand's gradient, where
// broadcast elements collect from many outputs.
func (t *Tape) parallelRuns(bc *broadcast, f func(o0, ia, ib, n, sa, sb int)) {
	if bc.n < parallelMinElems {
		bc.runs(f)
		return
	}
	nd := len(bc.runShape)
	inner, sa, sb := bc.runShape[nd-1], bc.runStridesA[nd-1], bc.runStridesB[nd-1]
	if nd == 1 {
		t.parallelFor(inner, func(lo, hi int) { f(lo, lo*sa, lo*sb, hi-lo, sa, sb) })
		return
	}
	t.parallelChunks(bc.n/inner, max(1, parallelChunkElems/inner), func(r0, r1 int) { bc.runsFrom(r0, r1, f) })
}

func dimFromEnd(shape []int, fromEnd int) int {
	i := len(shape) - 1 - fromEnd
	if i < 0 {
		return 1
	}
	return shape[i]
}

// bcastStrides fills st with, per output dimension, the stride of the
// operand's flat index (0 where the operand has size 1 or lacks the
// dimension), and returns it.
func bcastStrides(st, in, out []int) []int {
	s := 1
	for i := len(out) - 1; i >= 0; i-- {
		j := i - (len(out) - len(in))
		st[i] = 0
		if j >= 0 && in[j] != 1 {
			st[i] = s
		}
		if j >= 0 {
			s *= in[j]
		}
	}
	return st
}

// Add returns a + b with broadcasting.
func (t *Tape) Add(a, b *Tensor) *Tensor {
	bc := new(broadcast)
	newBroadcast(bc, "Add", a.shape, b.shape)
	out := t.resultUninit(bc.shape, a, b)
	o, x, y := out.data, a.data, b.data
	t.parallelRuns(bc, func(o0, ia, ib, n, sa, sb int) {
		or := o[o0 : o0+n]
		for j := range or {
			or[j] = x[ia+j*sa] + y[ib+j*sb]
		}
	})
	t.record(out, func(g []float32) {
		t.sumGradInto(a, g, bc, true, 1)
		t.sumGradInto(b, g, bc, false, 1)
	})
	return out
}

// sumGradInto adds sign·g, summed over the dimensions x was broadcast
// along, into x's gradient (x is a when isA, else b). When x has the
// output's shape this is a plain (parallel) copy or add.
func (t *Tape) sumGradInto(x *Tensor, g []float32, bc *broadcast, isA bool, sign float32) {
	if x == nil || !x.requiresGrad {
		return
	}
	if sameShape(x.shape, bc.shape) {
		gx, fresh := gradFor(x)
		t.parallelFor(len(g), func(lo, hi int) {
			d, s := gx[lo:hi], g[lo:hi]
			switch {
			case fresh && sign == 1:
				copy(d, s)
			case fresh:
				for i, v := range s {
					d[i] = -v
				}
			default:
				d = d[:len(s)]
				for i, v := range s {
					d[i] += sign * v
				}
			}
		})
		return
	}
	gx := gradOf(x)
	if rows, cols, ok := bc.repeatedRows(isA); ok && bc.n >= parallelMinElems && cols >= 2*columnChunk {
		// x repeats along the leading dimensions (a bias): split its
		// elements, not the rows, so that each still collects the rows
		// in order, as below.
		t.parallelChunks(cols, columnChunk, func(lo, hi int) {
			d := gx[lo:hi]
			for r := range rows {
				s := g[r*cols+lo : r*cols+hi]
				for j, v := range s {
					d[j] += sign * v
				}
			}
		})
		return
	}
	bc.runs(func(o0, ia, ib, n, sa, sb int) {
		gr := g[o0 : o0+n]
		i, st := ib, sb
		if isA {
			i, st = ia, sa
		}
		for j, v := range gr {
			gx[i+j*st] += sign * v
		}
	})
}

// columnChunk is the number of a repeated operand's elements a goroutine
// takes at a time in sumGradInto: a multiple of 16, so that goroutines
// never share a cache line of float32s.
const columnChunk = 64

// repeatedRows reports whether operand a (isA) or b is the output's rows
// repeated: the output is rows × cols in memory and the operand holds one
// row of cols elements, read at every output row.
func (bc *broadcast) repeatedRows(isA bool) (rows, cols int, ok bool) {
	st := bc.runStridesB
	if isA {
		st = bc.runStridesA
	}
	if len(bc.runShape) != 2 || st[0] != 0 || st[1] != 1 {
		return 0, 0, false
	}
	return bc.runShape[0], bc.runShape[1], true
}

// Sub returns a - b with broadcasting.
func (t *Tape) Sub(a, b *Tensor) *Tensor {
	bc := new(broadcast)
	newBroadcast(bc, "Sub", a.shape, b.shape)
	out := t.resultUninit(bc.shape, a, b)
	o, x, y := out.data, a.data, b.data
	t.parallelRuns(bc, func(o0, ia, ib, n, sa, sb int) {
		or := o[o0 : o0+n]
		for j := range or {
			or[j] = x[ia+j*sa] - y[ib+j*sb]
		}
	})
	t.record(out, func(g []float32) {
		t.sumGradInto(a, g, bc, true, 1)
		t.sumGradInto(b, g, bc, false, -1)
	})
	return out
}

// Mul returns a * b (elementwise) with broadcasting.
func (t *Tape) Mul(a, b *Tensor) *Tensor {
	bc := new(broadcast)
	newBroadcast(bc, "Mul", a.shape, b.shape)
	out := t.resultUninit(bc.shape, a, b)
	o, x, y := out.data, a.data, b.data
	t.parallelRuns(bc, func(o0, ia, ib, n, sa, sb int) {
		or := o[o0 : o0+n]
		for j := range or {
			or[j] = x[ia+j*sa] * y[ib+j*sb]
		}
	})
	t.record(out, func(g []float32) {
		ga, gb := gradOf(a), gradOf(b)
		bc.runs(func(o0, ia, ib, n, sa, sb int) {
			gr := g[o0 : o0+n]
			if ga != nil {
				for j, v := range gr {
					ga[ia+j*sa] += v * y[ib+j*sb]
				}
			}
			if gb != nil {
				for j, v := range gr {
					gb[ib+j*sb] += v * x[ia+j*sa]
				}
			}
		})
	})
	return out
}

// Div returns a / b (elementwise) with broadcasting.
func (t *Tape) Div(a, b *Tensor) *Tensor {
	bc := new(broadcast)
	newBroadcast(bc, "Div", a.shape, b.shape)
	out := t.resultUninit(bc.shape, a, b)
	o, x, y := out.data, a.data, b.data
	t.parallelRuns(bc, func(o0, ia, ib, n, sa, sb int) {
		or := o[o0 : o0+n]
		for j := range or {
			or[j] = x[ia+j*sa] / y[ib+j*sb]
		}
	})
	t.record(out, func(g []float32) {
		ga, gb := gradOf(a), gradOf(b)
		bc.runs(func(o0, ia, ib, n, sa, sb int) {
			gr := g[o0 : o0+n]
			if ga != nil {
				for j, v := range gr {
					ga[ia+j*sa] += v / y[ib+j*sb]
				}
			}
			if gb != nil {
				for j, v := range gr {
					yv := y[ib+j*sb]
					gb[ib+j*sb] -= v * x[ia+j*sa] / (yv * yv)
				}
			}
		})
	})
	return out
}

// Scale returns a·s for a constant s.
func (t *Tape) Scale(a *Tensor, s float32) *Tensor {
	out := t.resultUninit(a.shape, a)
	for i, v := range a.data {
		out.data[i] = v * s
	}
	t.record(out, func(g []float32) {
		ga := gradOf(a)
		for i, v := range g {
			ga[i] += v * s
		}
	})
	return out
}

// ReLU returns max(x, 0).
func (t *Tape) ReLU(x *Tensor) *Tensor {
	out := t.resultUninit(x.shape, x)
	t.relu(out.data, x.data)
	t.record(out, func(g []float32) {
		gx, fresh := gradFor(x)
		t.reluBackward(gx, g, x.data, fresh)
	})
	return out
}

// AddReLU returns max(a + b, 0), the end of a residual block, as one op:
// the same result and gradients as ReLU(Add(a, b)) without the
// intermediate sum, saving a pass over the activation in each direction.
// Operands of different shapes broadcast as in Add (then it is exactly
// those two ops).
func (t *Tape) AddReLU(a, b *Tensor) *Tensor {
	if !sameShape(a.shape, b.shape) {
		return t.ReLU(t.Add(a, b))
	}
	out := t.resultUninit(a.shape, a, b)
	t.parallelFor(len(out.data), func(lo, hi int) {
		vec.AddReLU(out.data[lo:hi], a.data[lo:hi], b.data[lo:hi])
	})
	t.record(out, func(g []float32) {
		// The gradient passes to both operands where the output is positive.
		// Both are computed piece by piece in one loop, so that g and the
		// mask are read from memory once (the second operand's piece finds
		// them in cache).
		ga, freshA := gradFor(a)
		gb, freshB := gradFor(b)
		t.parallelFor(len(g), func(lo, hi int) {
			for _, op := range [...]struct {
				gx    []float32
				fresh bool
			}{{ga, freshA}, {gb, freshB}} {
				switch {
				case op.gx == nil:
				case op.fresh:
					vec.MaskPositive(op.gx[lo:hi], g[lo:hi], out.data[lo:hi])
				default:
					vec.AddMaskPositive(op.gx[lo:hi], g[lo:hi], out.data[lo:hi])
				}
			}
		})
	})
	return out
}
