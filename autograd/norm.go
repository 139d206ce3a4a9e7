package autograd

import (
	"fmt"
	"math"
)

// BatchNorm normalises each channel of x, shape (N, C) or (N, C, H, W)
// (any trailing spatial dimensions), then scales by gamma and shifts by
// beta (both (C), either may be nil for 1 and 0): PyTorch's BatchNorm1d/2d.
//
// In training mode it normalises with the batch statistics over N and the
// spatial dimensions (biased variance) and, when runningMean and runningVar
// are not nil, updates them in place with PyTorch's convention:
// running = (1−momentum)·running + momentum·batch, using the unbiased
// variance for runningVar. In evaluation mode it normalises with the running
// statistics, which then act as constants.
//
// A training batch with one value per channel cannot be normalised; like
// PyTorch, that is reported as an error (on the tape).
func (t *Tape) BatchNorm(x, gamma, beta, runningMean, runningVar *Tensor, training bool, momentum, eps float32) *Tensor {
	if len(x.shape) < 2 {
		panic(fmt.Sprintf("autograd.BatchNorm: need x (N, C, ...), got %v", x.shape))
	}
	n, c := x.shape[0], x.shape[1]
	spatial := numel(x.shape[2:])
	for name, p := range map[string]*Tensor{"gamma": gamma, "beta": beta, "running mean": runningMean, "running var": runningVar} {
		if p != nil && p.Numel() != c {
			panic(fmt.Sprintf("autograd.BatchNorm: %s has shape %v, need [%d] for input %v", name, p.shape, c, x.shape))
		}
	}
	if (runningMean == nil) != (runningVar == nil) {
		panic("autograd.BatchNorm: give both running statistics or neither")
	}
	if !training && runningMean == nil {
		panic("autograd.BatchNorm: evaluation mode needs running statistics")
	}
	count := n * spatial
	mean := make([]float32, c)
	invStd := make([]float32, c)
	if training {
		if count <= 1 {
			t.setErr(fmt.Errorf("batch norm: %d value(s) per channel in training mode (input %v); use a batch of at least 2", count, x.shape))
		}
		sum := make([]float64, c)
		for b := 0; b < n; b++ {
			for ch := 0; ch < c; ch++ {
				var s float64
				for _, v := range x.data[(b*c+ch)*spatial : (b*c+ch+1)*spatial] {
					s += float64(v)
				}
				sum[ch] += s
			}
		}
		for ch := range mean {
			mean[ch] = float32(sum[ch] / float64(count))
		}
		// Second pass for the variance: stable when |mean| ≫ std.
		clear(sum)
		for b := 0; b < n; b++ {
			for ch := 0; ch < c; ch++ {
				m := mean[ch]
				var s float64
				for _, v := range x.data[(b*c+ch)*spatial : (b*c+ch+1)*spatial] {
					d := float64(v - m)
					s += d * d
				}
				sum[ch] += s
			}
		}
		for ch := range invStd {
			v := sum[ch] / float64(max(count, 1))
			invStd[ch] = float32(1 / math.Sqrt(v+float64(eps)))
			if runningMean != nil {
				unbiased := v
				if count > 1 {
					unbiased = sum[ch] / float64(count-1)
				}
				runningMean.data[ch] = (1-momentum)*runningMean.data[ch] + momentum*mean[ch]
				runningVar.data[ch] = (1-momentum)*runningVar.data[ch] + momentum*float32(unbiased)
			}
		}
	} else {
		copy(mean, runningMean.data)
		for ch, v := range runningVar.data {
			invStd[ch] = float32(1 / math.Sqrt(float64(v)+float64(eps)))
		}
	}
	// scale and shift fold gamma, beta, mean and invStd: y = x·scale + shift.
	scale := make([]float32, c)
	shift := make([]float32, c)
	for ch := range scale {
		gm, bt := float32(1), float32(0)
		if gamma != nil {
			gm = gamma.data[ch]
		}
		if beta != nil {
			bt = beta.data[ch]
		}
		scale[ch] = gm * invStd[ch]
		shift[ch] = bt - mean[ch]*scale[ch]
	}
	out := t.result(x.shape, x, gamma, beta)
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			lo, hi := (b*c+ch)*spatial, (b*c+ch+1)*spatial
			sc, sh := scale[ch], shift[ch]
			dst := out.data[lo:hi]
			for i, v := range x.data[lo:hi] {
				dst[i] = v*sc + sh
			}
		}
	}
	t.record(out, func(g []float32) {
		// Per channel: Σg and Σg·x̂, with x̂ = (x − mean)·invStd.
		sumG := make([]float64, c)
		sumGX := make([]float64, c)
		for b := 0; b < n; b++ {
			for ch := 0; ch < c; ch++ {
				lo, hi := (b*c+ch)*spatial, (b*c+ch+1)*spatial
				m, is := mean[ch], invStd[ch]
				gr := g[lo:hi]
				var sg, sgx float64
				for i, v := range x.data[lo:hi] {
					sg += float64(gr[i])
					sgx += float64(gr[i]) * float64((v-m)*is)
				}
				sumG[ch] += sg
				sumGX[ch] += sgx
			}
		}
		if gg := gradOf(gamma); gg != nil {
			for ch := range gg {
				gg[ch] += float32(sumGX[ch])
			}
		}
		if gb := gradOf(beta); gb != nil {
			for ch := range gb {
				gb[ch] += float32(sumG[ch])
			}
		}
		gx := gradOf(x)
		if gx == nil {
			return
		}
		for b := 0; b < n; b++ {
			for ch := 0; ch < c; ch++ {
				lo, hi := (b*c+ch)*spatial, (b*c+ch+1)*spatial
				sc, m, is := scale[ch], mean[ch], invStd[ch]
				gr, gxr := g[lo:hi], gx[lo:hi]
				if !training {
					// The running statistics are constants: dx = g·γ·invStd.
					for i, v := range gr {
						gxr[i] += v * sc
					}
					continue
				}
				// dx = γ·invStd·(g − mean(g) − x̂·mean(g·x̂)), the batch
				// statistics being functions of x.
				mg := float32(sumG[ch] / float64(count))
				mgx := float32(sumGX[ch] / float64(count))
				for i, v := range x.data[lo:hi] {
					gxr[i] += sc * (gr[i] - mg - (v-m)*is*mgx)
				}
			}
		}
	})
	return out
}

// LayerNorm normalises x over its last axis (biased variance, eps added to
// it), then scales by gamma and shifts by beta, both of the last axis's
// size or nil: PyTorch's nn.LayerNorm(normalized_shape=D).
func (t *Tape) LayerNorm(x, gamma, beta *Tensor, eps float32) *Tensor {
	rows, d := lastAxis("LayerNorm", x.shape)
	for name, p := range map[string]*Tensor{"gamma": gamma, "beta": beta} {
		if p != nil && p.Numel() != x.shape[len(x.shape)-1] {
			panic(fmt.Sprintf("autograd.LayerNorm: %s has shape %v, need [%d] for input %v", name, p.shape, x.shape[len(x.shape)-1], x.shape))
		}
	}
	mean := make([]float32, rows)
	invStd := make([]float32, rows)
	out := t.result(x.shape, x, gamma, beta)
	for r := 0; r < rows; r++ {
		xr, yr := x.data[r*d:(r+1)*d], out.data[r*d:(r+1)*d]
		var s float64
		for _, v := range xr {
			s += float64(v)
		}
		m := float32(s / float64(d))
		var ss float64
		for _, v := range xr {
			dv := float64(v - m)
			ss += dv * dv
		}
		is := float32(1 / math.Sqrt(ss/float64(d)+float64(eps)))
		mean[r], invStd[r] = m, is
		for j, v := range xr {
			y := (v - m) * is
			if gamma != nil {
				y *= gamma.data[j]
			}
			if beta != nil {
				y += beta.data[j]
			}
			yr[j] = y
		}
	}
	t.record(out, func(g []float32) {
		gx, gg, gb := gradOf(x), gradOf(gamma), gradOf(beta)
		dxhat := make([]float32, d)
		for r := 0; r < rows; r++ {
			xr, gr := x.data[r*d:(r+1)*d], g[r*d:(r+1)*d]
			m, is := mean[r], invStd[r]
			var sum, sumX float64 // Σ dx̂ and Σ dx̂·x̂
			for j, v := range xr {
				xh := (v - m) * is
				if gg != nil {
					gg[j] += gr[j] * xh
				}
				if gb != nil {
					gb[j] += gr[j]
				}
				dh := gr[j]
				if gamma != nil {
					dh *= gamma.data[j]
				}
				dxhat[j] = dh
				sum += float64(dh)
				sumX += float64(dh) * float64(xh)
			}
			if gx == nil {
				continue
			}
			// dx = invStd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)).
			mdh := float32(sum / float64(d))
			mdhx := float32(sumX / float64(d))
			gxr := gx[r*d : (r+1)*d]
			for j, v := range xr {
				gxr[j] += is * (dxhat[j] - mdh - (v-m)*is*mdhx)
			}
		}
	})
	return out
}
