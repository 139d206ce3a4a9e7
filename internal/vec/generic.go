package vec

import "math"

// The Go loops: the whole of each kernel without assembly, and the last
// few elements with it. They are autograd's original loops, with the
// lengths taken from the destination and each product converted to
// float32 explicitly, which the Go spec defines to round it and so forbids
// fusing it with the addition into an FMA (the Go compiler fuses
// x*y + z on arm64, and on amd64 with GOAMD64=v3, otherwise). The
// assembly reproduces these loops bit for bit, down to which operand's NaN
// each addition returns (but see the package doc on NaN + NaN in the
// accumulating kernels).

// positive returns g where m > 0 and +0 elsewhere.
func positive(g, m float32) float32 {
	return math.Float32frombits(math.Float32bits(g) & PositiveMask(m))
}

func reluGo(y, x []float32) {
	x = x[:len(y)]
	for i, v := range x {
		y[i] = positive(v, v)
	}
}

func addReLUGo(y, a, b []float32) {
	a, b = a[:len(y)], b[:len(y)]
	for i, v := range a {
		v += b[i]
		y[i] = positive(v, v)
	}
}

func maskPositiveGo(dst, g, m []float32) {
	g, m = g[:len(dst)], m[:len(dst)]
	for i, v := range m {
		dst[i] = positive(g[i], v)
	}
}

func addMaskPositiveGo(dst, g, m []float32) {
	g, m = g[:len(dst)], m[:len(dst)]
	for i, v := range m {
		dst[i] += positive(g[i], v)
	}
}

func axpbGo(y, x []float32, a, b float32) {
	x = x[:len(y)]
	for i, v := range x {
		y[i] = float32(v*a) + b
	}
}

func axpbReLUGo(y, x []float32, a, b float32) {
	x = x[:len(y)]
	for i, v := range x {
		v = float32(v*a) + b
		y[i] = positive(v, v)
	}
}

func affine2Go(dst, g, x []float32, p, q, r float32) {
	g, x = g[:len(dst)], x[:len(dst)]
	for i := range dst {
		dst[i] = float32(g[i]*p) + float32(x[i]*q) + r
	}
}

func addAffine2Go(dst, g, x []float32, p, q, r float32) {
	g, x = g[:len(dst)], x[:len(dst)]
	for i := range dst {
		dst[i] += float32(g[i]*p) + float32(x[i]*q) + r
	}
}

func affine2MaskedGo(dst, g, x, m []float32, p, q, r float32) {
	g, x, m = g[:len(dst)], x[:len(dst)], m[:len(dst)]
	for i := range dst {
		dst[i] = float32(positive(g[i], m[i])*p) + float32(x[i]*q) + r
	}
}

func addAffine2MaskedGo(dst, g, x, m []float32, p, q, r float32) {
	g, x, m = g[:len(dst)], x[:len(dst)], m[:len(dst)]
	for i := range dst {
		dst[i] += float32(positive(g[i], m[i])*p) + float32(x[i]*q) + r
	}
}

// shiftedSumsGo keeps four independent accumulators so the additions
// pipeline. The products of float32 values are exact in float64, so
// whether the compiler fuses them does not matter.
func shiftedSumsGo(xs []float32, k float32) (sum, sumSq float64) {
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

func sumAndDotGo(g, x []float32) (sum, dot float64) {
	x = x[:len(g)]
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

func sumAndDotMaskedGo(g, x, m []float32) (sum, dot float64) {
	x, m = x[:len(g)], m[:len(g)]
	var s0, s1, d0, d1 float64
	i := 0
	for ; i+2 <= len(g); i += 2 {
		g0 := float64(positive(g[i], m[i]))
		g1 := float64(positive(g[i+1], m[i+1]))
		s0, s1 = s0+g0, s1+g1
		d0 += g0 * float64(x[i])
		d1 += g1 * float64(x[i+1])
	}
	if i < len(g) {
		g0 := float64(positive(g[i], m[i]))
		s0 += g0
		d0 += g0 * float64(x[i])
	}
	return s0 + s1, d0 + d1
}
