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
	return bc
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

// each calls f with every output index and the matching operand indices.
func (bc *broadcast) each(f func(o, ia, ib int)) {
	if bc.sameA && bc.sameB {
		for o := 0; o < bc.n; o++ {
			f(o, o, o)
		}
		return
	}
	nd := len(bc.shape)
	idx := make([]int, nd)
	ia, ib := 0, 0
	for o := 0; o < bc.n; o++ {
		f(o, ia, ib)
		for d := nd - 1; d >= 0; d-- {
			idx[d]++
			ia += bc.stridesA[d]
			ib += bc.stridesB[d]
			if idx[d] < bc.shape[d] {
				break
			}
			ia -= bc.stridesA[d] * idx[d]
			ib -= bc.stridesB[d] * idx[d]
			idx[d] = 0
		}
	}
}

// Add returns a + b with broadcasting.
func (t *Tape) Add(a, b *Tensor) *Tensor {
	bc := newBroadcast("Add", a.shape, b.shape)
	out := t.result(bc.shape, a, b)
	o, x, y := out.data, a.data, b.data
	bc.each(func(i, ia, ib int) { o[i] = x[ia] + y[ib] })
	t.record(out, func(g []float32) {
		ga, gb := gradOf(a), gradOf(b)
		bc.each(func(i, ia, ib int) {
			if ga != nil {
				ga[ia] += g[i]
			}
			if gb != nil {
				gb[ib] += g[i]
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
	bc.each(func(i, ia, ib int) { o[i] = x[ia] - y[ib] })
	t.record(out, func(g []float32) {
		ga, gb := gradOf(a), gradOf(b)
		bc.each(func(i, ia, ib int) {
			if ga != nil {
				ga[ia] += g[i]
			}
			if gb != nil {
				gb[ib] -= g[i]
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
	bc.each(func(i, ia, ib int) { o[i] = x[ia] * y[ib] })
	t.record(out, func(g []float32) {
		ga, gb := gradOf(a), gradOf(b)
		bc.each(func(i, ia, ib int) {
			if ga != nil {
				ga[ia] += g[i] * y[ib]
			}
			if gb != nil {
				gb[ib] += g[i] * x[ia]
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
	bc.each(func(i, ia, ib int) { o[i] = x[ia] / y[ib] })
	t.record(out, func(g []float32) {
		ga, gb := gradOf(a), gradOf(b)
		bc.each(func(i, ia, ib int) {
			if ga != nil {
				ga[ia] += g[i] / y[ib]
			}
			if gb != nil {
				gb[ib] -= g[i] * x[ia] / (y[ib] * y[ib])
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
