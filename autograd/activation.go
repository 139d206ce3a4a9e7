package autograd

import (
	"fmt"
	"math"
)

// GELU returns x·Φ(x) with Φ the standard normal CDF, in its exact erf
// form 0.5·x·(1 + erf(x/√2)) (PyTorch's default, approximate="none").
// Φ comes from a fast error function accurate to about 1e-7 relative
// (erf.go), well within float32 rounding.
func (t *Tape) GELU(x *Tensor) *Tensor {
	out := t.resultUninit(x.shape, x)
	if !out.requiresGrad {
		t.parallelFor(len(x.data), func(lo, hi int) {
			xs, ys := x.data[lo:hi], out.data[lo:hi]
			ys = ys[:len(xs)]
			for i, v := range xs {
				cdf, _ := normalCDFPDF(float64(v))
				ys[i] = float32(float64(v) * cdf)
			}
		})
		return out
	}
	// The forward pass has Φ(x) and φ(x) in hand, so it saves the derivative
	// d/dx x·Φ(x) = Φ(x) + x·φ(x) rather than leave the backward pass to
	// evaluate the exponential and erf again (they dominate BERT's
	// elementwise work).
	deriv := t.keep(len(x.data))
	t.parallelFor(len(x.data), func(lo, hi int) {
		xs, ys, ds := x.data[lo:hi], out.data[lo:hi], deriv[lo:hi]
		ys, ds = ys[:len(xs)], ds[:len(xs)]
		for i, v := range xs {
			xv := float64(v)
			cdf, pdf := normalCDFPDF(xv)
			ys[i] = float32(xv * cdf)
			ds[i] = float32(cdf + xv*pdf)
		}
	})
	t.record(out, func(g []float32) {
		gx, fresh := gradFor(x)
		t.parallelFor(len(x.data), func(lo, hi int) {
			ds, gs, gxs := deriv[lo:hi], g[lo:hi], gx[lo:hi]
			gs, gxs = gs[:len(ds)], gxs[:len(ds)]
			if fresh {
				for i, d := range ds {
					gxs[i] = gs[i] * d
				}
				return
			}
			for i, d := range ds {
				gxs[i] += gs[i] * d
			}
		})
	})
	return out
}

// Tanh returns the hyperbolic tangent of x.
func (t *Tape) Tanh(x *Tensor) *Tensor {
	out := t.resultUninit(x.shape, x)
	for i, v := range x.data {
		out.data[i] = float32(math.Tanh(float64(v)))
	}
	t.record(out, func(g []float32) {
		gx := gradOf(x)
		for i, y := range out.data {
			gx[i] += g[i] * (1 - y*y)
		}
	})
	return out
}

// Sigmoid returns 1/(1+e^−x).
func (t *Tape) Sigmoid(x *Tensor) *Tensor {
	out := t.resultUninit(x.shape, x)
	for i, v := range x.data {
		out.data[i] = sigmoid(v)
	}
	t.record(out, func(g []float32) {
		gx := gradOf(x)
		for i, y := range out.data {
			gx[i] += g[i] * y * (1 - y)
		}
	})
	return out
}

// sigmoid is computed so that exp never overflows.
func sigmoid(v float32) float32 {
	if v >= 0 {
		return float32(1 / (1 + math.Exp(-float64(v))))
	}
	e := math.Exp(float64(v))
	return float32(e / (1 + e))
}

// lastAxis splits a shape into rows × cols where cols is the last dimension.
func lastAxis(op string, shape []int) (rows, cols int) {
	if len(shape) == 0 {
		panic(fmt.Sprintf("autograd.%s: needs at least one dimension, got a scalar", op))
	}
	cols = shape[len(shape)-1]
	if cols == 0 {
		return 0, 0
	}
	return numel(shape) / cols, cols
}

// softmaxRow writes softmax(x) into y and returns log Σ exp(x) (the
// log-partition), subtracting the row maximum first so exp cannot overflow.
func softmaxRow(y, x []float32) float64 {
	mx := x[0]
	for _, v := range x[1:] {
		mx = max(mx, v)
	}
	var sum float64
	for j, v := range x {
		e := math.Exp(float64(v - mx))
		y[j] = float32(e)
		sum += e
	}
	inv := float32(1 / sum)
	for j := range y {
		y[j] *= inv
	}
	return float64(mx) + math.Log(sum)
}

// Softmax returns exp(x)/Σexp(x) over the last axis.
func (t *Tape) Softmax(x *Tensor) *Tensor {
	rows, cols := lastAxis("Softmax", x.shape)
	out := t.resultUninit(x.shape, x)
	t.parallelRows(rows, cols, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			softmaxRow(out.data[r*cols:(r+1)*cols], x.data[r*cols:(r+1)*cols])
		}
	})
	t.record(out, func(g []float32) {
		gx, fresh := gradFor(x)
		// dx_j = y_j·(g_j − Σ_k g_k·y_k).
		t.parallelRows(rows, cols, func(r0, r1 int) {
			for r := r0; r < r1; r++ {
				y, gr, gxr := out.data[r*cols:(r+1)*cols], g[r*cols:(r+1)*cols], gx[r*cols:(r+1)*cols]
				var dot float64
				for j, v := range y {
					dot += float64(v) * float64(gr[j])
				}
				d := float32(dot)
				if fresh {
					for j, v := range y {
						gxr[j] = v * (gr[j] - d)
					}
					continue
				}
				for j, v := range y {
					gxr[j] += v * (gr[j] - d)
				}
			}
		})
	})
	return out
}

// LogSoftmax returns x − log Σexp(x) over the last axis, computed stably.
func (t *Tape) LogSoftmax(x *Tensor) *Tensor {
	rows, cols := lastAxis("LogSoftmax", x.shape)
	out := t.resultUninit(x.shape, x)
	for r := 0; r < rows; r++ {
		xr, yr := x.data[r*cols:(r+1)*cols], out.data[r*cols:(r+1)*cols]
		lse := softmaxRow(yr, xr)
		for j, v := range xr {
			yr[j] = float32(float64(v) - lse)
		}
	}
	t.record(out, func(g []float32) {
		gx := gradOf(x)
		// dx_j = g_j − softmax_j·Σ_k g_k, with softmax_j = exp(y_j).
		for r := 0; r < rows; r++ {
			y, gr, gxr := out.data[r*cols:(r+1)*cols], g[r*cols:(r+1)*cols], gx[r*cols:(r+1)*cols]
			var sum float64
			for _, v := range gr {
				sum += float64(v)
			}
			s := float32(sum)
			for j, v := range y {
				gxr[j] += gr[j] - float32(math.Exp(float64(v)))*s
			}
		}
	})
	return out
}
