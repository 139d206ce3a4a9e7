package vec

import "math"

// The reference loops: autograd's kernels as they were before this package
// (autograd/kernels.go and the loop of Tape.AddReLU), copied verbatim but
// for the parallelFor around some of them. The tests hold every kernel set
// to these bit for bit.

func refPositiveMask(v float32) uint32 {
	b := int64(int32(math.Float32bits(v)))
	return uint32((-b) >> 63)
}

func refReLU(y, x []float32) {
	xs, ys := x, y
	ys = ys[:len(xs)]
	for i, v := range xs {
		ys[i] = math.Float32frombits(math.Float32bits(v) & refPositiveMask(v))
	}
}

func refReLUBackward(gx, g, x []float32, assign bool) {
	xs, gs, gxs := x, g, gx
	gs, gxs = gs[:len(xs)], gxs[:len(xs)]
	if assign {
		for i, v := range xs {
			gxs[i] = math.Float32frombits(math.Float32bits(gs[i]) & refPositiveMask(v))
		}
		return
	}
	for i, v := range xs {
		gxs[i] += math.Float32frombits(math.Float32bits(gs[i]) & refPositiveMask(v))
	}
}

func refAdd(out, x []float32) {
	for i, v := range x[:len(out)] {
		out[i] += v
	}
}

func refAddReLU(out, a, b []float32) {
	xs, ys, os := a, b, out
	ys, os = ys[:len(xs)], os[:len(xs)]
	for i, v := range xs {
		v += ys[i]
		os[i] = math.Float32frombits(math.Float32bits(v) & refPositiveMask(v))
	}
}

func refShiftedSums(xs []float32, k float32) (sum, sumSq float64) {
	var s0, s1, s2, s3, q0, q1, q2, q3 float64
	i := 0
	for ; i+4 <= len(xs); i += 4 {
		d0, d1 := float64(xs[i]-k), float64(xs[i+1]-k)
		d2, d3 := float64(xs[i+2]-k), float64(xs[i+3]-k)
		s0, s1, s2, s3 = s0+d0, s1+d1, s2+d2, s3+d3
		q0, q1, q2, q3 = q0+d0*d0, q1+d1*d1, q2+d2*d2, q3+d3*d3
	}
	for ; i < len(xs); i++ {
		d := float64(xs[i] - k)
		s0 += d
		q0 += d * d
	}
	return (s0 + s1) + (s2 + s3), (q0 + q1) + (q2 + q3)
}

func refSumAndDot(g, x, mask []float32) (sum, dot float64) {
	x = x[:len(g)]
	if mask != nil {
		mask = mask[:len(g)]
		var s0, s1, d0, d1 float64
		i := 0
		for ; i+2 <= len(g); i += 2 {
			g0 := float64(math.Float32frombits(math.Float32bits(g[i]) & refPositiveMask(mask[i])))
			g1 := float64(math.Float32frombits(math.Float32bits(g[i+1]) & refPositiveMask(mask[i+1])))
			s0, s1 = s0+g0, s1+g1
			d0 += g0 * float64(x[i])
			d1 += g1 * float64(x[i+1])
		}
		if i < len(g) {
			g0 := float64(math.Float32frombits(math.Float32bits(g[i]) & refPositiveMask(mask[i])))
			s0 += g0
			d0 += g0 * float64(x[i])
		}
		return s0 + s1, d0 + d1
	}
	var s0, s1, s2, s3, d0, d1, d2, d3 float64
	i := 0
	for ; i+4 <= len(g); i += 4 {
		g0, g1, g2, g3 := float64(g[i]), float64(g[i+1]), float64(g[i+2]), float64(g[i+3])
		s0, s1, s2, s3 = s0+g0, s1+g1, s2+g2, s3+g3
		d0 += g0 * float64(x[i])
		d1 += g1 * float64(x[i+1])
		d2 += g2 * float64(x[i+2])
		d3 += g3 * float64(x[i+3])
	}
	for ; i < len(g); i++ {
		s0 += float64(g[i])
		d0 += float64(g[i]) * float64(x[i])
	}
	return (s0 + s1) + (s2 + s3), (d0 + d1) + (d2 + d3)
}

func refAxpb(y, x []float32, a, b float32, relu bool) {
	y = y[:len(x)]
	if relu {
		for i, v := range x {
			v = v*a + b
			y[i] = math.Float32frombits(math.Float32bits(v) & refPositiveMask(v))
		}
		return
	}
	for i, v := range x {
		y[i] = v*a + b
	}
}

func refAddAffine2(dst, g, x, mask []float32, p, q, r float32, assign bool) {
	g, x = g[:len(dst)], x[:len(dst)]
	if mask != nil {
		mask = mask[:len(dst)]
		if assign {
			for i := range dst {
				v := math.Float32frombits(math.Float32bits(g[i]) & refPositiveMask(mask[i]))
				dst[i] = v*p + x[i]*q + r
			}
			return
		}
		for i := range dst {
			v := math.Float32frombits(math.Float32bits(g[i]) & refPositiveMask(mask[i]))
			dst[i] += v*p + x[i]*q + r
		}
		return
	}
	if assign {
		for i := range dst {
			dst[i] = g[i]*p + x[i]*q + r
		}
		return
	}
	for i := range dst {
		dst[i] += g[i]*p + x[i]*q + r
	}
}

// compilerFuses reports whether this build fuses x*y + z into an FMA (Go
// does on amd64 with GOAMD64=v3 or later, and on arm64): then the
// reference loops above round differently from the kernels, which never
// fuse, and the bit-for-bit comparisons with multiply-adds cannot hold.
//
//go:noinline
func compilerFuses(x, y, z float32) bool { return x*y+z != 0 }

// fuses calls compilerFuses on values where fusing shows: x·y =
// 1 + 2⁻¹¹ + 2⁻²⁴ rounds to 1 + 2⁻¹¹ in float32, so x·y − (1 + 2⁻¹¹) is 0
// unfused and 2⁻²⁴ fused.
func fuses() bool {
	x := float32(1 + 1.0/4096)
	return compilerFuses(x, x, -(1 + 1.0/2048))
}
