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
		keep := 1 / (1 - p)
		for i, v := range x.data {
			if rng.Float32() >= p {
				mask[i] = keep
				out.data[i] = v * keep
			} else {
				mask[i], out.data[i] = 0, 0
			}
		}
	} else {
		clear(mask)
		clear(out.data)
	}
	t.record(out, func(g []float32) {
		gx, fresh := gradFor(x)
		if fresh {
			for i, m := range mask {
				gx[i] = g[i] * m
			}
			return
		}
		for i, m := range mask {
			gx[i] += g[i] * m
		}
	})
	return out
}
