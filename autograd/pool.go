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
	o := 0
	for nc := 0; nc < g.N*g.C; nc++ {
		base := nc * plane
		xp := x.data[base : base+plane]
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
				out.data[o] = best
				argmax[o] = int32(base + bestIdx)
				o++
			}
		}
	}
	t.record(out, func(gout []float32) {
		gx := gradOf(x)
		for i, v := range gout {
			gx[argmax[i]] += v
		}
	})
	return out
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
