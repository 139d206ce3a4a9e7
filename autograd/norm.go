package autograd

import (
	"fmt"
	"math"

	"github.com/mirage-go/mirage/internal/vec"
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
	return t.batchNorm(x, gamma, beta, runningMean, runningVar, training, momentum, eps, false)
}

// BatchNormReLU is ReLU(BatchNorm(...)) as one op, with the same arguments
// and results as the two ops in a row (ResNet applies ReLU after most of
// its batch norms). Fusing them saves a pass over the activation in each
// direction and the intermediate tensor: the backward pass recovers the
// ReLU mask from the output (y > 0 exactly where the normalised value is).
func (t *Tape) BatchNormReLU(x, gamma, beta, runningMean, runningVar *Tensor, training bool, momentum, eps float32) *Tensor {
	return t.batchNorm(x, gamma, beta, runningMean, runningVar, training, momentum, eps, true)
}

// BatchNormAddReLU is ReLU(BatchNorm(x, ...) + skip) as one op: the end of
// a ResNet basic block (its second batch norm, the shortcut and the ReLU).
// It gives the values of the three ops in a row bit for bit, and their
// gradients up to the order of the float64 sums of the normalisation's
// backward pass. Fusing them skips the normalised tensor, its gradient and
// their passes over memory: the forward pass writes the output directly,
// and the backward pass writes skip's gradient while it gathers the
// normalisation's sums. skip must have x's shape; otherwise (or when skip
// is x itself) the three ops run as such.
func (t *Tape) BatchNormAddReLU(x, skip, gamma, beta, runningMean, runningVar *Tensor, training bool, momentum, eps float32) *Tensor {
	if skip == x || !sameShape(skip.shape, x.shape) {
		return t.AddReLU(t.BatchNorm(x, gamma, beta, runningMean, runningVar, training, momentum, eps), skip)
	}
	return t.batchNormSkip(x, gamma, beta, runningMean, runningVar, training, momentum, eps, true, skip)
}

func (t *Tape) batchNorm(x, gamma, beta, runningMean, runningVar *Tensor, training bool, momentum, eps float32, relu bool) *Tensor {
	return t.batchNormSkip(x, gamma, beta, runningMean, runningVar, training, momentum, eps, relu, nil)
}

// batchNormSkip is the batch norm of x, plus skip when it is not nil, then
// ReLU when relu is set (skip needs relu).
func (t *Tape) batchNormSkip(x, gamma, beta, runningMean, runningVar *Tensor, training bool, momentum, eps float32, relu bool, skip *Tensor) *Tensor {
	if len(x.shape) < 2 {
		panic(fmt.Sprintf("autograd.BatchNorm: need x (N, C, ...), got %v", x.shape))
	}
	n, c := x.shape[0], x.shape[1]
	spatial := numel(x.shape[2:])
	for i, p := range [...]*Tensor{gamma, beta, runningMean, runningVar} {
		if p != nil && p.Numel() != c {
			name := [...]string{"gamma", "beta", "running mean", "running var"}[i]
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
	// Per channel: mean, 1/std, and y = x·scale + shift folding γ and β.
	stats := t.keep(4 * c)
	mean, invStd, scale, shift := stats[:c], stats[c:2*c], stats[2*c:3*c], stats[3*c:]
	xd := x.data
	// plane returns channel ch of image b.
	plane := func(d []float32, b, ch int) []float32 { return d[(b*c+ch)*spatial : (b*c+ch+1)*spatial] }
	if training && count <= 1 {
		t.setErr(fmt.Errorf("batch norm: %d value(s) per channel in training mode (input %v); use a batch of at least 2", count, x.shape))
	}
	if !training {
		copy(mean, runningMean.data)
		for ch, v := range runningVar.data {
			invStd[ch] = float32(1 / math.Sqrt(float64(v)+float64(eps)))
		}
	}
	out := t.resultUninit(x.shape, x, gamma, beta, skip)
	// Channel by channel: the statistics, the folded scale and shift, then
	// the output planes, which so read the channel's input from cache (a
	// channel of a ResNet stage-1 batch is 512 KiB) rather than memory.
	t.parallelChannels(c, len(xd), func(c0, c1 int) {
		for ch := c0; ch < c1; ch++ {
			if training {
				// One pass over the data with sums shifted by a sample
				// of the channel (the shifted-data algorithm): in float64
				// this stays accurate even when |mean| ≫ std.
				var shiftBy float32
				if count > 0 {
					shiftBy = plane(xd, 0, ch)[0]
				}
				var s, ss float64
				for b := 0; b < n; b++ {
					ps, pss := shiftedSums(plane(xd, b, ch), shiftBy)
					s += ps
					ss += pss
				}
				cnt := float64(max(count, 1))
				m := s / cnt
				v := max(ss/cnt-m*m, 0) // biased variance
				mean[ch] = float32(float64(shiftBy) + m)
				invStd[ch] = float32(1 / math.Sqrt(v+float64(eps)))
				if runningMean != nil {
					unbiased := v
					if count > 1 {
						unbiased = v * cnt / float64(count-1)
					}
					runningMean.data[ch] = (1-momentum)*runningMean.data[ch] + momentum*mean[ch]
					runningVar.data[ch] = (1-momentum)*runningVar.data[ch] + momentum*float32(unbiased)
				}
			}
			gm, bt := float32(1), float32(0)
			if gamma != nil {
				gm = gamma.data[ch]
			}
			if beta != nil {
				bt = beta.data[ch]
			}
			scale[ch] = gm * invStd[ch]
			shift[ch] = bt - mean[ch]*scale[ch]
			for b := 0; b < n; b++ {
				op := plane(out.data, b, ch)
				if skip == nil {
					axpb(op, plane(xd, b, ch), scale[ch], shift[ch], relu)
					continue
				}
				// The normalised plane, then ReLU(it + skip) in place while
				// it is in cache: the float32 operations of BatchNorm then
				// AddReLU.
				axpb(op, plane(xd, b, ch), scale[ch], shift[ch], false)
				vec.AddReLU(op, op, plane(skip.data, b, ch))
			}
		}
	})
	t.record(out, func(g []float32) {
		// With the fused ReLU, the gradient reaching the normalisation is g
		// where the output is positive and 0 elsewhere. Without skip the
		// kernels recompute that mask from x, scale and shift exactly as
		// the forward pass computed the output (reading x, which they read
		// anyway, rather than the output too); with skip, mask (the
		// output) selects it.
		var mask []float32
		reluOf := relu && skip == nil
		if skip != nil {
			mask = out.data
		}
		gg, gb := gradOf(gamma), gradOf(beta)
		gx, fresh := gradFor(x)
		// skip's gradient is the masked g, written in the first pass.
		gs, freshS := gradFor(skip)
		t.parallelChannels(c, len(xd), func(c0, c1 int) {
			for ch := c0; ch < c1; ch++ {
				// Σg and Σg·x over the channel give Σg·x̂ with
				// x̂ = (x − mean)·invStd: Σg·x̂ = invStd·(Σg·x − mean·Σg).
				var sg, sgx float64
				for b := 0; b < n; b++ {
					var mb []float32
					if mask != nil {
						mb = plane(mask, b, ch)
					}
					var ps, psx float64
					if reluOf {
						ps, psx = vec.SumAndDotReLUOf(plane(g, b, ch), plane(xd, b, ch), scale[ch], shift[ch])
					} else {
						ps, psx = sumAndDot(plane(g, b, ch), plane(xd, b, ch), mb)
					}
					sg += ps
					sgx += psx
					if gs != nil {
						if freshS {
							vec.MaskPositive(plane(gs, b, ch), plane(g, b, ch), mb)
						} else {
							vec.AddMaskPositive(plane(gs, b, ch), plane(g, b, ch), mb)
						}
					}
				}
				m, is := float64(mean[ch]), float64(invStd[ch])
				sgxhat := is * (sgx - m*sg)
				if gg != nil {
					gg[ch] += float32(sgxhat)
				}
				if gb != nil {
					gb[ch] += float32(sg)
				}
				if gx == nil {
					continue
				}
				sc := float64(scale[ch])
				// Evaluation: the running statistics are constants, so
				// dx = g·γ·invStd. Training: the batch statistics are
				// functions of x, and
				// dx = γ·invStd·(g − mean(g) − x̂·mean(g·x̂))
				//    = sc·g + a·x + b with a, b per channel.
				var a, bb float64
				if training {
					mg, mgx := sg/float64(count), sgxhat/float64(count)
					a = -sc * is * mgx
					bb = -sc*mg + sc*m*is*mgx
				}
				for b := 0; b < n; b++ {
					dst, gp, xp := plane(gx, b, ch), plane(g, b, ch), plane(xd, b, ch)
					switch {
					case reluOf && fresh:
						vec.Affine2ReLUOf(dst, gp, xp, scale[ch], shift[ch], float32(sc), float32(a), float32(bb))
					case reluOf:
						vec.AddAffine2ReLUOf(dst, gp, xp, scale[ch], shift[ch], float32(sc), float32(a), float32(bb))
					default:
						var mb []float32
						if mask != nil {
							mb = plane(mask, b, ch)
						}
						addAffine2(dst, gp, xp, mb, float32(sc), float32(a), float32(bb), fresh)
					}
				}
			}
		})
	})
	return out
}

// LayerNorm normalises x over its last axis (biased variance, eps added to
// it), then scales by gamma and shifts by beta, both of the last axis's
// size or nil: PyTorch's nn.LayerNorm(normalized_shape=D).
func (t *Tape) LayerNorm(x, gamma, beta *Tensor, eps float32) *Tensor {
	rows, d := lastAxis("LayerNorm", x.shape)
	for i, p := range [...]*Tensor{gamma, beta} {
		if p != nil && p.Numel() != x.shape[len(x.shape)-1] {
			name := [...]string{"gamma", "beta"}[i]
			panic(fmt.Sprintf("autograd.LayerNorm: %s has shape %v, need [%d] for input %v", name, p.shape, x.shape[len(x.shape)-1], x.shape))
		}
	}
	stats := t.keep(2 * rows)
	mean, invStd := stats[:rows], stats[rows:]
	out := t.resultUninit(x.shape, x, gamma, beta)
	t.parallelRows(rows, d, func(r0, r1 int) { layerNormRows(x.data, out.data, gamma, beta, mean, invStd, d, eps, r0, r1) })
	t.record(out, func(g []float32) {
		gx, gg, gb := gradOf(x), gradOf(gamma), gradOf(beta)
		dxhat := t.scratch(d)
		defer t.release(dxhat)
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

// layerNormRows normalises rows [r0, r1) of x (d elements each) into out
// and stores each row's mean and 1/σ: LayerNorm's forward pass, row by
// row.
func layerNormRows(x, out []float32, gamma, beta *Tensor, mean, invStd []float32, d int, eps float32, r0, r1 int) {
	for r := r0; r < r1; r++ {
		xr, yr := x[r*d:(r+1)*d], out[r*d:(r+1)*d]
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
}
