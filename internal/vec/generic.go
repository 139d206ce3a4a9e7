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

func addGo(dst, x []float32) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] += v
	}
}

func transpose8Go(dst []float32, ldd int, src []float32, lds, n int) {
	for r := 0; r < 8; r++ {
		row := src[r*lds : r*lds+n]
		for x, v := range row {
			dst[x*ldd+r] = v
		}
	}
}

// windowsGo is Windows in Go: the definition, and the loop for rows wider
// than the vector kernels take and for CPUs without them. The 3- and
// 5-wide rows of ResNet's and LeNet's kernels are moved element by
// element, a call to the runtime's memmove per row costing more than the
// row.
func windowsGo(rows, img []float32, n, step, blocks, plane, height, ld, width int) {
	at := 0
	for j := range n {
		for c := range blocks {
			for r := range height {
				o := j*step + c*plane + r*ld
				switch width {
				case 3:
					d, s := rows[at:at+3:at+3], img[o:o+3:o+3]
					d[0], d[1], d[2] = s[0], s[1], s[2]
				case 5:
					d, s := rows[at:at+5:at+5], img[o:o+5:o+5]
					d[0], d[1], d[2], d[3], d[4] = s[0], s[1], s[2], s[3], s[4]
				default:
					copy(rows[at:at+width], img[o:o+width])
				}
				at += width
			}
		}
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

// The ReLUOf loops recompute the mask AxpbReLU(y, a, b) from y: the sign
// of t = float32(y[i]*a) + b decides it. Where no NaN is involved, the
// order of the operands of each product and sum does not matter, but when
// both are NaN the result is the first source's NaN (on x86, quieted), and
// its sign then decides a mask. The other loops leave that order to the
// compiler, which for them happens to match the assembly; here it does
// not (with y[i] live after y[i]*a, Go 1.26 multiplies a by y[i], and it
// adds g·p + y·q rather than y·q + g·p), so these loops compute the usual
// way and, only when a NaN comes out, once more with the order explicit:
// y·a then + b for the mask (AxpbReLU's order), and y·q + g'·p then + r for
// the output (Affine2Masked's), as the assembly does.

// firstProduct returns x·y with x's NaN, quieted, when x is NaN: what x86
// returns with x as the first source. With x not NaN, x·y does not depend
// on the order.
func firstProduct(x, y float32) float32 {
	if x != x {
		return quiet(x)
	}
	return x * y
}

// firstSum is firstProduct for x + y.
func firstSum(x, y float32) float32 {
	if x != x {
		return quiet(x)
	}
	return x + y
}

// quiet sets the quiet bit of NaN x, as an arithmetic instruction does.
func quiet(x float32) float32 { return math.Float32frombits(math.Float32bits(x) | 1<<22) }

// reluOf returns t = float32(y·a) + b, the value whose sign is the mask of
// AxpbReLU(y, a, b), with AxpbReLU's NaN.
func reluOf(y, a, b float32) float32 {
	t := float32(y*a) + b
	if t != t {
		t = firstSum(firstProduct(y, a), b)
	}
	return t
}

// affine2NaN returns g·p + y·q + r, NaN, with Affine2Masked's NaN: the
// order of the assembly, y·q + g·p, then + r.
func affine2NaN(g, y, p, q, r float32) float32 {
	return firstSum(firstSum(firstProduct(y, q), firstProduct(g, p)), r)
}

func affine2ReLUOfGo(dst, g, y []float32, a, b, p, q, r float32) {
	g, y = g[:len(dst)], y[:len(dst)]
	for i, v := range y {
		gm := positive(g[i], reluOf(v, a, b))
		e := float32(gm*p) + float32(v*q) + r
		if e != e {
			e = affine2NaN(gm, v, p, q, r)
		}
		dst[i] = e
	}
}

func addAffine2ReLUOfGo(dst, g, y []float32, a, b, p, q, r float32) {
	g, y = g[:len(dst)], y[:len(dst)]
	for i, v := range y {
		gm := positive(g[i], reluOf(v, a, b))
		e := float32(gm*p) + float32(v*q) + r
		if e != e {
			e = affine2NaN(gm, v, p, q, r)
		}
		dst[i] += e
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

// sumAndDotReLUOfGo is sumAndDotMaskedGo with the mask recomputed by
// reluOf: the same terms, added in the same order.
func sumAndDotReLUOfGo(g, y []float32, a, b float32) (sum, dot float64) {
	y = y[:len(g)]
	var s0, s1, d0, d1 float64
	i := 0
	for ; i+2 <= len(g); i += 2 {
		y0, y1 := y[i], y[i+1]
		g0 := float64(positive(g[i], reluOf(y0, a, b)))
		g1 := float64(positive(g[i+1], reluOf(y1, a, b)))
		s0, s1 = s0+g0, s1+g1
		d0 += g0 * float64(y0)
		d1 += g1 * float64(y1)
	}
	if i < len(g) {
		y0 := y[i]
		g0 := float64(positive(g[i], reluOf(y0, a, b)))
		s0 += g0
		d0 += g0 * float64(y0)
	}
	return s0 + s1, d0 + d1
}
