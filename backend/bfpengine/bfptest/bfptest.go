// Package bfptest is an independent, slow reference of the BFP GEMM, for
// tests. It shares no code with package bfpengine or internal/bfp: exponents come from
// math.Frexp, rounding from math.RoundToEven, tile dot products are summed
// in math/big, and tile values are rounded to FP32 by big.Float.
package bfptest

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mirage-go/mirage/backend"
)

// Quantise returns the nearest-even mantissas and scale exponents of one
// block, following the format's definition: e = E-(bits-2) for the largest
// magnitude xmax = f·2^E, 1 ≤ f < 2; blocks below 2^-126 become zero.
func Quantise(block []float64, bits int) (q []int64, e int) {
	q = make([]int64, len(block))
	xmax := 0.0
	for _, x := range block {
		xmax = math.Max(xmax, math.Abs(x))
	}
	if xmax < 0x1p-126 {
		return q, 0
	}
	_, exp := math.Frexp(xmax) // xmax = frac·2^exp, frac in [0.5, 1)
	e = (exp - 1) - (bits - 2)
	qmax := float64(int64(1)<<(bits-1) - 1)
	for i, x := range block {
		r := math.RoundToEven(math.Ldexp(x, -e))
		r = math.Max(-qmax, math.Min(qmax, r))
		q[i] = int64(r)
	}
	return q, e
}

// Product returns the M×N result (row stride N) of the BFP GEMM g with
// nearest-even rounding and tiles added in order: per tile the exact
// integer dot product, scaled and rounded to FP32, summed in FP32 in tile
// order into R; the result is R, or C + R (one FP32 addition) when
// g.Accumulate.
func Product(g backend.GEMM, bits, tile int) []float32 {
	out := make([]float32, g.M*g.N)
	for i := 0; i < g.M; i++ {
		for j := 0; j < g.N; j++ {
			var r float32
			for _, v := range tileValues(g, bits, tile, i, j) {
				f, _ := v.Float32()
				r += f
			}
			if g.Accumulate {
				r = g.C[i*g.LDC+j] + r
			}
			out[i*g.N+j] = r
		}
	}
	return out
}

// Tolerance returns, per output element, how far an unordered FP32
// accumulation of the exact products may lie from Product: zero when every
// partial sum of the products (and C), in any order, is exactly
// representable, so that any order gives the exact sum; else
// 2·(T+1)·2^-24·(|C| + Σ|products|).
func Tolerance(g backend.GEMM, bits, tile int) []float64 {
	out := make([]float64, g.M*g.N)
	for i := 0; i < g.M; i++ {
		for j := 0; j < g.N; j++ {
			parts := tileParts(g, bits, tile, i, j)
			var c float64
			if g.Accumulate {
				c = float64(g.C[i*g.LDC+j])
			}
			sum := math.Abs(c)
			minExp := math.MaxInt
			for _, p := range parts {
				if p.abs > 0 {
					sum += math.Ldexp(float64(p.abs), p.exp)
					minExp = min(minExp, p.exp)
				}
			}
			if c != 0 {
				_, e := math.Frexp(c) // c = f·2^e, f in [0.5, 1): its last bit is 2^(e-24)
				minExp = min(minExp, e-24)
			}
			if minExp == math.MaxInt || sum < math.Ldexp(1, minExp+24) {
				continue // every partial sum is a multiple of 2^minExp below 2^24 of them: exact
			}
			out[i*g.N+j] = 2 * float64(len(parts)+1) * 0x1p-24 * sum
		}
	}
	return out
}

// tilePart is one tile of one output: its exact value 2^exp·P and
// Σ|qa·qb|, which bounds its partial sums.
type tilePart struct {
	val *big.Float
	exp int
	abs int64
}

// tileValues returns the exact tile values 2^(ea+eb)·P_t of output (i, j).
func tileValues(g backend.GEMM, bits, tile, i, j int) []*big.Float {
	var vals []*big.Float
	for _, p := range tileParts(g, bits, tile, i, j) {
		vals = append(vals, p.val)
	}
	return vals
}

func tileParts(g backend.GEMM, bits, tile, i, j int) []tilePart {
	var parts []tilePart
	for k0 := 0; k0 < g.K; k0 += tile {
		k1 := min(k0+tile, g.K)
		a := make([]float64, k1-k0)
		b := make([]float64, k1-k0)
		for p := k0; p < k1; p++ {
			a[p-k0] = float64(g.AtA(i, p))
			b[p-k0] = float64(g.AtB(p, j))
		}
		qa, ea := Quantise(a, bits)
		qb, eb := Quantise(b, bits)
		P := new(big.Int)
		var abs int64
		for p := range qa {
			P.Add(P, new(big.Int).Mul(big.NewInt(qa[p]), big.NewInt(qb[p])))
			abs += max(qa[p]*qb[p], -qa[p]*qb[p])
		}
		parts = append(parts, tilePart{val: new(big.Float).SetMantExp(new(big.Float).SetInt(P), ea+eb), exp: ea + eb, abs: abs})
	}
	return parts
}

// RandomGEMM returns a GEMM of the given shape with random operands whose
// magnitudes vary by a few binades between rows, so that blocks get
// different exponents; strides exceed the minimum by pad.
func RandomGEMM(rng *rand.Rand, m, n, k int, transA, transB, accumulate bool, pad int) backend.GEMM {
	g := backend.GEMM{M: m, N: n, K: k, TransA: transA, TransB: transB, Accumulate: accumulate}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	g.LDA, g.LDB, g.LDC = ac+pad, bc+pad, n+pad
	g.A = randomMatrix(rng, ar, g.LDA)
	g.B = randomMatrix(rng, br, g.LDB)
	g.C = randomMatrix(rng, m, g.LDC)
	return g
}

func randomMatrix(rng *rand.Rand, rows, ld int) []float32 {
	x := make([]float32, rows*ld)
	for r := 0; r < rows; r++ {
		scale := math.Ldexp(1, rng.IntN(9)-4)
		for c := 0; c < ld; c++ {
			v := rng.NormFloat64() * scale
			if rng.IntN(20) == 0 {
				v = 0 // exact zeros, and now and then a whole zero block
			}
			x[r*ld+c] = float32(v)
		}
	}
	return x
}

// TilePart is one tile's share of one output element in the reference
// model: the exact integer dot product P of the two blocks, the exponent
// ea+eb of their scale, and whether the tile is live (neither block is all
// zero after quantisation; a tile with a zero block is exactly 0 and the
// hardware does not read it out).
type TilePart struct {
	P    int64
	Exp  int
	Live bool
}

// TileParts returns, for output (i, j) of g, every tile's part, quantised
// by the independent reference Quantise.
func TileParts(g backend.GEMM, bits, tile, i, j int) []TilePart {
	var parts []TilePart
	for k0 := 0; k0 < g.K; k0 += tile {
		k1 := min(k0+tile, g.K)
		a, b := make([]float64, k1-k0), make([]float64, k1-k0)
		for p := k0; p < k1; p++ {
			a[p-k0], b[p-k0] = float64(g.AtA(i, p)), float64(g.AtB(p, j))
		}
		qa, ea := Quantise(a, bits)
		qb, eb := Quantise(b, bits)
		var dot int64
		for p := range qa {
			dot += qa[p] * qb[p]
		}
		parts = append(parts, TilePart{P: dot, Exp: ea + eb, Live: anyNonZero(qa) && anyNonZero(qb)})
	}
	return parts
}

func anyNonZero(q []int64) bool {
	for _, v := range q {
		if v != 0 {
			return true
		}
	}
	return false
}

// SetA sets element (i, p) of op(A).
func SetA(g *backend.GEMM, i, p int, v float32) {
	if g.TransA {
		g.A[p*g.LDA+i] = v
	} else {
		g.A[i*g.LDA+p] = v
	}
}

// SetB sets element (p, j) of op(B).
func SetB(g *backend.GEMM, p, j int, v float32) {
	if g.TransB {
		g.B[j*g.LDB+p] = v
	} else {
		g.B[p*g.LDB+j] = v
	}
}

// Run runs g on b, on a copy of C so that g can be run again, and returns
// the M×N result window (row stride N).
func Run(t testing.TB, b backend.Backend, call backend.Call, g backend.GEMM) []float32 {
	t.Helper()
	g.C = slices.Clone(g.C)
	if err := b.MatMul(call, g); err != nil {
		t.Fatalf("%s %v: %v", call.Layer, call.Role, err)
	}
	out := make([]float32, g.M*g.N)
	for i := 0; i < g.M; i++ {
		copy(out[i*g.N:(i+1)*g.N], g.C[i*g.LDC:i*g.LDC+g.N])
	}
	return out
}
