package autograd

import (
	"fmt"
	"slices"

	"github.com/mirage-go/mirage/internal/vec"
)

// Reshape returns x with a new shape holding the same elements in the same
// row-major order. One dimension may be -1; it is inferred from the others.
//
// The result shares x's value storage (a view, as in PyTorch), but has its
// own gradient: the backward pass adds the output gradient into x's.
func (t *Tape) Reshape(x *Tensor, shape ...int) *Tensor {
	shape = slices.Clone(shape)
	infer, known := -1, 1
	for i, s := range shape {
		switch {
		case s == -1 && infer < 0:
			infer = i
		case s < 0:
			panic(fmt.Sprintf("autograd.Reshape: bad target shape %v for %v (only one -1 is allowed, no other negative sizes)", shape, x.shape))
		default:
			known *= s
		}
	}
	if infer >= 0 {
		if known == 0 || x.Numel()%known != 0 {
			panic(fmt.Sprintf("autograd.Reshape: cannot infer -1 in %v for %v (%d elements)", shape, x.shape, x.Numel()))
		}
		shape[infer] = x.Numel() / known
	}
	if numel(shape) != x.Numel() {
		panic(fmt.Sprintf("autograd.Reshape: %v has %d elements, target shape %v has %d", x.shape, x.Numel(), shape, numel(shape)))
	}
	out := t.view(shape, x.data)
	out.requiresGrad = !t.noGrad && x.requiresGrad
	t.record(out, func(g []float32) {
		gx := gradOf(x)
		for i, v := range g {
			gx[i] += v
		}
	})
	return out
}

// Transpose permutes the dimensions of x: dimension i of the result is
// dimension perm[i] of x (NumPy's transpose, PyTorch's permute). The result
// is a new contiguous tensor. With no perm, the dimensions are reversed.
func (t *Tape) Transpose(x *Tensor, perm ...int) *Tensor {
	nd := len(x.shape)
	if len(perm) == 0 {
		perm = make([]int, nd)
		for i := range perm {
			perm[i] = nd - 1 - i
		}
	}
	if len(perm) != nd {
		panic(fmt.Sprintf("autograd.Transpose: permutation %v has %d entries, tensor %v has %d dimensions", perm, len(perm), x.shape, nd))
	}
	seen := make([]bool, nd)
	for _, p := range perm {
		if p < 0 || p >= nd || seen[p] {
			panic(fmt.Sprintf("autograd.Transpose: %v is not a permutation of the %d dimensions of %v", perm, nd, x.shape))
		}
		seen[p] = true
	}
	shape := make([]int, nd)
	for i, p := range perm {
		shape[i] = x.shape[p]
	}
	// srcStrides[i] is the step in x's flat index when output dim i grows.
	xStrides := rowMajorStrides(x.shape)
	srcStrides := make([]int, nd)
	for i, p := range perm {
		srcStrides[i] = xStrides[p]
	}
	out := t.resultUninit(shape, x)
	permuteCopy(out.data, x.data, shape, srcStrides, false)
	t.record(out, func(g []float32) {
		permuteCopy(g, gradOf(x), shape, srcStrides, true)
	})
	return out
}

// permuteCopy walks the output shape in row-major order. Forward
// (back=false) it gathers dst[o] = src[s]; backward (back=true) it
// scatters src[s] += dst[o], where s follows srcStrides. The innermost
// dimension runs as a plain strided loop.
func permuteCopy(dst, src []float32, shape, srcStrides []int, back bool) {
	nd := len(shape)
	n := numel(shape)
	if n == 0 {
		return
	}
	if nd == 0 {
		if back {
			src[0] += dst[0]
		} else {
			dst[0] = src[0]
		}
		return
	}
	inner, innerStride := shape[nd-1], srcStrides[nd-1]
	idx := make([]int, nd)
	s := 0
	for o := 0; o < n; o += inner {
		row := dst[o : o+inner]
		if back {
			for j, v := range row {
				src[s+j*innerStride] += v
			}
		} else {
			for j := range row {
				row[j] = src[s+j*innerStride]
			}
		}
		for d := nd - 2; d >= 0; d-- {
			idx[d]++
			s += srcStrides[d]
			if idx[d] < shape[d] {
				break
			}
			s -= srcStrides[d] * idx[d]
			idx[d] = 0
		}
	}
}

func rowMajorStrides(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// normAxis turns a possibly negative axis into an index into a shape of nd
// dimensions, panicking with the op's name when it is out of range.
func normAxis(op string, axis, nd int) int {
	a := axis
	if a < 0 {
		a += nd
	}
	if a < 0 || a >= nd {
		panic(fmt.Sprintf("autograd.%s: axis %d out of range for %d dimensions", op, axis, nd))
	}
	return a
}

// Concat joins tensors along axis (negative counts from the end). All
// other dimensions must agree.
func (t *Tape) Concat(axis int, xs ...*Tensor) *Tensor {
	if len(xs) == 0 {
		panic("autograd.Concat: no tensors")
	}
	first := xs[0].shape
	axis = normAxis("Concat", axis, len(first))
	shape := slices.Clone(first)
	shape[axis] = 0
	for _, x := range xs {
		if len(x.shape) != len(first) {
			panic(fmt.Sprintf("autograd.Concat: shapes %v and %v differ in rank", first, x.shape))
		}
		for d := range first {
			if d != axis && x.shape[d] != first[d] {
				panic(fmt.Sprintf("autograd.Concat: shapes %v and %v differ outside axis %d", first, x.shape, axis))
			}
		}
		shape[axis] += x.shape[axis]
	}
	outer := numel(first[:axis])
	inner := numel(first[axis+1:])
	rowLen := shape[axis] * inner // one outer slice of the result
	out := t.resultUninit(shape, xs...)
	off := 0
	for _, x := range xs {
		w := x.shape[axis] * inner
		for o := 0; o < outer; o++ {
			copy(out.data[o*rowLen+off:o*rowLen+off+w], x.data[o*w:(o+1)*w])
		}
		off += w
	}
	t.record(out, func(g []float32) {
		off := 0
		for _, x := range xs {
			w := x.shape[axis] * inner
			if gx := gradOf(x); gx != nil {
				for o := 0; o < outer; o++ {
					addTo(gx[o*w:(o+1)*w], g[o*rowLen+off:o*rowLen+off+w])
				}
			}
			off += w
		}
	})
	return out
}

// Slice returns the elements of x with start ≤ index < end along axis
// (negative axis counts from the end), like x[..., start:end, ...].
func (t *Tape) Slice(x *Tensor, axis, start, end int) *Tensor {
	axis = normAxis("Slice", axis, len(x.shape))
	if start < 0 || end > x.shape[axis] || start > end {
		panic(fmt.Sprintf("autograd.Slice: range [%d, %d) outside dimension %d of %v", start, end, axis, x.shape))
	}
	shape := slices.Clone(x.shape)
	shape[axis] = end - start
	outer := numel(x.shape[:axis])
	inner := numel(x.shape[axis+1:])
	srcRow, w, off := x.shape[axis]*inner, (end-start)*inner, start*inner
	out := t.resultUninit(shape, x)
	for o := 0; o < outer; o++ {
		copy(out.data[o*w:(o+1)*w], x.data[o*srcRow+off:o*srcRow+off+w])
	}
	t.record(out, func(g []float32) {
		gx := gradOf(x)
		for o := 0; o < outer; o++ {
			addTo(gx[o*srcRow+off:o*srcRow+off+w], g[o*w:(o+1)*w])
		}
	})
	return out
}

// addTo adds src into dst elementwise (len(dst) == len(src)).
func addTo(dst, src []float32) { vec.Add(dst[:len(src)], src) }

// PadChannels returns x (N, C, ...) with before zero channels prepended and
// after zero channels appended: (N, before+C+after, ...). It is the
// channel padding of ResNet's parameter-free option-A shortcut
// (PyTorch: F.pad(x, (0, 0, 0, 0, before, after))), done in one op so the
// zero channels need no tensors of their own.
func (t *Tape) PadChannels(x *Tensor, before, after int) *Tensor {
	if len(x.shape) < 2 || before < 0 || after < 0 {
		panic(fmt.Sprintf("autograd.PadChannels: need x (N, C, ...) and non-negative padding, got %v, %d, %d", x.shape, before, after))
	}
	n, c := x.shape[0], x.shape[1]
	inner := numel(x.shape[2:])
	var shapeStore [maxInlineDims]int
	shape := append(shapeStore[:0], x.shape...)
	shape[1] = before + c + after
	out := t.resultUninit(shape, x)
	w, rowLen := c*inner, (before+c+after)*inner
	for b := 0; b < n; b++ {
		row := out.data[b*rowLen : (b+1)*rowLen]
		clear(row[:before*inner])
		copy(row[before*inner:before*inner+w], x.data[b*w:(b+1)*w])
		clear(row[before*inner+w:])
	}
	t.record(out, func(g []float32) {
		gx := gradOf(x)
		for b := 0; b < n; b++ {
			addTo(gx[b*w:(b+1)*w], g[b*rowLen+before*inner:b*rowLen+before*inner+w])
		}
	})
	return out
}
