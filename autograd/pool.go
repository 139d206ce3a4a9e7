package autograd

import (
	"fmt"

	"github.com/mirage-go/mirage/internal/conv"
)

// poolGeometry checks a pooling op's input and window and returns them as
// a conv.Geometry (square kernel).
func poolGeometry(op string, x *Tensor, kernel, stride, padding int) conv.Geometry {
	if len(x.shape) != 4 {
		panic(fmt.Sprintf("autograd.%s: need x (N,C,H,W), got %v", op, x.shape))
	}
	g := conv.Geometry{
		N: x.shape[0], C: x.shape[1], H: x.shape[2], W: x.shape[3],
		KH: kernel, KW: kernel, Stride: stride, Pad: padding,
	}
	if err := g.Validate(); err != nil {
		panic(fmt.Sprintf("autograd.%s: %v (x %v)", op, err, x.shape))
	}
	// As in PyTorch: a window must never lie entirely in the padding.
	if 2*padding > kernel {
		panic(fmt.Sprintf("autograd.%s: padding %d must be at most half the kernel size %d", op, padding, kernel))
	}
	return g
}

// MaxPool2d returns the maximum over each kernel×kernel window of x
// (N, C, H, W), moving by stride, with implicit −∞ padding: PyTorch's
// nn.MaxPool2d (dilation 1, floor mode). The gradient flows to the first
// maximum of each window.
func (t *Tape) MaxPool2d(x *Tensor, kernel, stride, padding int) *Tensor {
	g := poolGeometry("MaxPool2d", x, kernel, stride, padding)
	oh, ow := g.OutH(), g.OutW()
	out := t.resultUninit([]int{g.N, g.C, oh, ow}, x)
	// argmax[i] is the flat index into x of output i's maximum.
	argmax := t.keepInts(len(out.data))
	if len(x.data) > 1<<31-1 {
		panic(fmt.Sprintf("autograd.MaxPool2d: input %v is too large for 32-bit indices", x.shape))
	}
	plane := g.H * g.W
	t.parallelFor(g.N*g.C*parallelPlaneWeight(oh*ow*kernel*kernel), func(lo, hi int) {
		w := parallelPlaneWeight(oh * ow * kernel * kernel)
		for nc := lo / w; nc < hi/w; nc++ {
			base := nc * plane
			xp := x.data[base : base+plane]
			op := out.data[nc*oh*ow : (nc+1)*oh*ow]
			ap := argmax[nc*oh*ow : (nc+1)*oh*ow]
			if kernel == 2 && stride == 2 && padding == 0 {
				maxPool2x2(op, ap, xp, base, g.W, oh, ow)
				continue
			}
			o := 0
			for oy := 0; oy < oh; oy++ {
				y0 := oy*g.Stride - g.Pad
				ylo, yhi := max(y0, 0), min(y0+kernel, g.H)
				for ox := 0; ox < ow; ox++ {
					x0 := ox*g.Stride - g.Pad
					xlo, xhi := max(x0, 0), min(x0+kernel, g.W)
					best, bestIdx := xp[ylo*g.W+xlo], ylo*g.W+xlo
					for iy := ylo; iy < yhi; iy++ {
						row := xp[iy*g.W : (iy+1)*g.W]
						for ix := xlo; ix < xhi; ix++ {
							if row[ix] > best {
								best, bestIdx = row[ix], iy*g.W+ix
							}
						}
					}
					op[o] = best
					ap[o] = int32(base + bestIdx)
					o++
				}
			}
		}
	})
	t.record(out, func(gout []float32) {
		// Windows may overlap (stride < kernel), so gradients scatter-add;
		// each plane's outputs only reach that plane, so planes run in
		// parallel.
		gx := gradOf(x)
		per := oh * ow
		t.parallelFor(g.N*g.C*parallelPlaneWeight(per), func(lo, hi int) {
			w := parallelPlaneWeight(per)
			for i := lo / w * per; i < hi/w*per; i++ {
				gx[argmax[i]] += gout[i]
			}
		})
	})
	return out
}

// parallelPlaneWeight is the number of units each (image, channel) plane
// counts for when parallelFor splits planes: parallelFor cuts its range
// at multiples of 16 and weighs work by the range's length, so a plane is
// worth max(16, work) units, rounded up to a multiple of 16, and ranges
// divided by it give whole planes.
func parallelPlaneWeight(work int) int {
	return (max(work, 16) + 15) &^ 15
}

// maxPool2x2 is MaxPool2d's 2×2, stride-2, unpadded window (LeNet's) over
// one plane xp of width w whose first element is x[base]: the maximum of
// each window and the index of its first maximum, in reading order, as
// the general loop gives. It is written without data-dependent branches
// (a tournament of max and 0/1 comparison results): the winner of a window
// is close to random, and mispredicted branches cost four times the
// arithmetic.
func maxPool2x2(out []float32, arg []int32, xp []float32, base, w, oh, ow int) {
	for oy := 0; oy < oh; oy++ {
		r0 := xp[2*oy*w : 2*oy*w+w]
		r1 := xp[(2*oy+1)*w : (2*oy+1)*w+w]
		o := out[oy*ow : (oy+1)*ow]
		a := arg[oy*ow : (oy+1)*ow]
		rowBase := int32(base + 2*oy*w)
		for ox := range o {
			p, q := r0[2*ox:2*ox+2:2*ox+2], r1[2*ox:2*ox+2:2*ox+2]
			c1, m1 := b2i(p[1] > p[0]), max(p[0], p[1])
			c2, m2 := b2i(q[1] > q[0]), max(q[0], q[1])
			c3 := b2i(m2 > m1) // the second row wins only if strictly larger
			// Offset of the winner: c1 in the first row, w + c2 in the second.
			o[ox] = max(m1, m2)
			a[ox] = rowBase + int32(2*ox) + c1 + c3*(int32(w)+c2-c1)
		}
	}
}

// b2i is 1 for true and 0 for false; the compiler makes it a SETcc.
func b2i(b bool) int32 {
	var i int32
	if b {
		i = 1
	}
	return i
}

// AvgPool2d returns the mean over each kernel×kernel window of x
// (N, C, H, W), moving by stride, with zero padding that counts towards
// the mean (PyTorch's nn.AvgPool2d default, count_include_pad=True): every
// window divides by kernel².
func (t *Tape) AvgPool2d(x *Tensor, kernel, stride, padding int) *Tensor {
	g := poolGeometry("AvgPool2d", x, kernel, stride, padding)
	oh, ow := g.OutH(), g.OutW()
	out := t.resultUninit([]int{g.N, g.C, oh, ow}, x)
	inv := 1 / float32(kernel*kernel)
	plane := g.H * g.W
	o := 0
	for nc := 0; nc < g.N*g.C; nc++ {
		xp := x.data[nc*plane : (nc+1)*plane]
		for oy := 0; oy < oh; oy++ {
			y0 := oy*g.Stride - g.Pad
			ylo, yhi := max(y0, 0), min(y0+kernel, g.H)
			for ox := 0; ox < ow; ox++ {
				x0 := ox*g.Stride - g.Pad
				xlo, xhi := max(x0, 0), min(x0+kernel, g.W)
				var s float32
				for iy := ylo; iy < yhi; iy++ {
					for _, v := range xp[iy*g.W+xlo : iy*g.W+xhi] {
						s += v
					}
				}
				out.data[o] = s * inv
				o++
			}
		}
	}
	t.record(out, func(gout []float32) {
		gx := gradOf(x)
		o := 0
		for nc := 0; nc < g.N*g.C; nc++ {
			gp := gx[nc*plane : (nc+1)*plane]
			for oy := 0; oy < oh; oy++ {
				y0 := oy*g.Stride - g.Pad
				ylo, yhi := max(y0, 0), min(y0+kernel, g.H)
				for ox := 0; ox < ow; ox++ {
					x0 := ox*g.Stride - g.Pad
					xlo, xhi := max(x0, 0), min(x0+kernel, g.W)
					v := gout[o] * inv
					o++
					for iy := ylo; iy < yhi; iy++ {
						row := gp[iy*g.W+xlo : iy*g.W+xhi]
						for i := range row {
							row[i] += v
						}
					}
				}
			}
		}
	})
	return out
}

// GlobalAvgPool returns the mean of each channel of x (N, C, H, W) as an
// (N, C) tensor: adaptive average pooling to 1×1 followed by flattening.
func (t *Tape) GlobalAvgPool(x *Tensor) *Tensor {
	if len(x.shape) != 4 {
		panic(fmt.Sprintf("autograd.GlobalAvgPool: need x (N,C,H,W), got %v", x.shape))
	}
	n, c, plane := x.shape[0], x.shape[1], x.shape[2]*x.shape[3]
	out := t.resultUninit([]int{n, c}, x)
	inv := 1 / float32(plane)
	for i := range out.data {
		var s float32
		for _, v := range x.data[i*plane : (i+1)*plane] {
			s += v
		}
		out.data[i] = s * inv
	}
	t.record(out, func(gout []float32) {
		gx := gradOf(x)
		for i, v := range gout {
			v *= inv
			row := gx[i*plane : (i+1)*plane]
			for j := range row {
				row[j] += v
			}
		}
	})
	return out
}
