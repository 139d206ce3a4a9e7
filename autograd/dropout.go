package autograd

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Dropout zeroes each element of x with probability p and scales the
// survivors by 1/(1−p) (inverted dropout), so evaluation needs no rescaling.
// The caller applies it in training mode only. p = 0 returns x itself; p = 1
// returns zeros. A p outside [0, 1] is recorded as the tape's error and x is
// returned unchanged. The mask is drawn from rng, so a seeded rng gives a
// reproducible mask.
func (t *Tape) Dropout(x *Tensor, p float32, rng *rand.Rand) *Tensor {
	if p < 0 || p > 1 || math.IsNaN(float64(p)) {
		t.setErr(fmt.Errorf("dropout: probability %g is outside [0, 1]", p))
		return x
	}
	if p == 0 {
		return x
	}
	out := t.resultUninit(x.shape, x)
	// mask[i] is 0 or the survivor scale 1/(1−p); the backward pass
	// multiplies by the same factor. Both are written whole.
	mask := t.keep(len(x.data))
	if p < 1 {
		// The draws, one per element in order, on this goroutine (they
		// are the generator's stream); then the outputs on all cores.
		keep := 1 / (1 - p)
		for i := range mask {
			m := float32(0)
			if rng.Float32() >= p {
				m = keep
			}
			mask[i] = m
		}
		t.parallelFor(len(x.data), func(lo, hi int) {
			xs, ms, ys := x.data[lo:hi], mask[lo:hi], out.data[lo:hi]
			ms, ys = ms[:len(xs)], ys[:len(xs)]
			for i, v := range xs {
				if ms[i] != 0 {
					ys[i] = v * keep
				} else {
					ys[i] = 0
				}
			}
		})
	} else {
		clear(mask)
		clear(out.data)
	}
	t.record(out, func(g []float32) {
		gx, fresh := gradFor(x)
		t.parallelFor(len(mask), func(lo, hi int) {
			ms, gs, gxs := mask[lo:hi], g[lo:hi], gx[lo:hi]
			gs, gxs = gs[:len(ms)], gxs[:len(ms)]
			if fresh {
				for i, m := range ms {
					gxs[i] = gs[i] * m
				}
				return
			}
			for i, m := range ms {
				gxs[i] += gs[i] * m
			}
		})
	})
	return out
}
