package autograd

import "fmt"

// broadcast describes how two operands map onto their NumPy-broadcast result.
type broadcast struct {
	shape    []int
	n        int
	sameA    bool // a has the output's shape
	sameB    bool
	stridesA []int // per output dim; 0 where a is broadcast
	stridesB []int

	// The same iteration with adjacent dimensions merged wherever both
	// operands step through them contiguously, so that the innermost run
	// is as long as possible (the whole tensor when shapes agree).
	runShape, runStridesA, runStridesB []int
}

func newBroadcast(op string, a, b []int) broadcast {
	nd := max(len(a), len(b))
	shape := make([]int, nd)
	for i := 0; i < nd; i++ {
		da, db := dimFromEnd(a, nd-1-i), dimFromEnd(b, nd-1-i)
		switch {
		case da == db, db == 1:
			shape[i] = da
		case da == 1:
			shape[i] = db
		default:
			panic(fmt.Sprintf("autograd.%s: shapes %v and %v do not broadcast (dimension %d: %d vs %d)", op, a, b, i, da, db))
		}
	}
	bc := broadcast{shape: shape, n: numel(shape)}
	bc.sameA = sameShape(a, shape)
	bc.sameB = sameShape(b, shape)
	bc.stridesA = bcastStrides(a, shape)
	bc.stridesB = bcastStrides(b, shape)
	bc.coalesce()
	return bc
}

// coalesce fills the run* fields: dimension d merges into the one before it
// when, for both operands, stepping the outer dimension once equals
// stepping the inner one through its whole extent.
func (bc *broadcast) coalesce() {
	var shape, sa, sb []int
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
		shape, sa, sb = []int{1}, []int{0}, []int{0}
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
	nd := len(bc.runShape)
	inner, sa, sb := bc.runShape[nd-1], bc.runStridesA[nd-1], bc.runStridesB[nd-1]
	idx := make([]int, nd)
	ia, ib := 0, 0
	for o := 0; o < bc.n; o += inner {
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

func dimFromEnd(shape []int, fromEnd int) int {
	i := len(shape) - 1 - fromEnd
	if i < 0 {
		return 1
	}
	return shape[i]
}

// bcastStrides returns, per output dimension, the stride of the operand's
// flat index (0 where the operand has size 1 or lacks the dimension).
func bcastStrides(in, out []int) []int {
	st := make([]int, len(out))
	s := 1
	for i := len(out) - 1; i >= 0; i-- {
		j := i - (len(out) - len(in))
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
	bc := newBroadcast("Add", a.shape, b.shape)
	out := t.result(bc.shape, a, b)
	o, x, y := out.data, a.data, b.data
	bc.runs(func(o0, ia, ib, n, sa, sb int) {
		or := o[o0 : o0+n]
		for j := range or {
			or[j] = x[ia+j*sa] + y[ib+j*sb]
		}
	})
	t.record(out, func(g []float32) {
		ga, gb := gradOf(a), gradOf(b)
		bc.runs(func(o0, ia, ib, n, sa, sb int) {
			gr := g[o0 : o0+n]
			if ga != nil {
				for j, v := range gr {
					ga[ia+j*sa] += v
				}
			}
			if gb != nil {
				for j, v := range gr {
					gb[ib+j*sb] += v
				}
			}
		})
	})
	return out
}

// Sub returns a - b with broadcasting.
func (t *Tape) Sub(a, b *Tensor) *Tensor {
	bc := newBroadcast("Sub", a.shape, b.shape)
	out := t.result(bc.shape, a, b)
	o, x, y := out.data, a.data, b.data
	bc.runs(func(o0, ia, ib, n, sa, sb int) {
		or := o[o0 : o0+n]
		for j := range or {
			or[j] = x[ia+j*sa] - y[ib+j*sb]
		}
	})
	t.record(out, func(g []float32) {
		ga, gb := gradOf(a), gradOf(b)
		bc.runs(func(o0, ia, ib, n, sa, sb int) {
			gr := g[o0 : o0+n]
			if ga != nil {
				for j, v := range gr {
					ga[ia+j*sa] += v
				}
			}
			if gb != nil {
				for j, v := range gr {
					gb[ib+j*sb] -= v
				}
			}
		})
	})
	return out
}

// Mul returns a * b (elementwise) with broadcasting.
func (t *Tape) Mul(a, b *Tensor) *Tensor {
	bc := newBroadcast("Mul", a.shape, b.shape)
	out := t.result(bc.shape, a, b)
	o, x, y := out.data, a.data, b.data
	bc.runs(func(o0, ia, ib, n, sa, sb int) {
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
	bc := newBroadcast("Div", a.shape, b.shape)
	out := t.result(bc.shape, a, b)
	o, x, y := out.data, a.data, b.data
	bc.runs(func(o0, ia, ib, n, sa, sb int) {
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
	out := t.result(a.shape, a)
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
	out := t.result(x.shape, x)
	for i, v := range x.data {
		if v > 0 {
			out.data[i] = v
		}
	}
	t.record(out, func(g []float32) {
		gx := gradOf(x)
		for i, v := range x.data {
			if v > 0 {
				gx[i] += g[i]
			}
		}
	})
	return out
}
