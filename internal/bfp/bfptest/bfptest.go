// Package bfptest is an independent, slow reference of the BFP GEMM, for
// tests. It shares no code with package bfp: exponents come from
// math.Frexp, rounding from math.RoundToEven, tile dot products are summed
// in math/big, and tile values are rounded to FP32 by big.Float.
package bfptest

import (
	"math"
	"math/big"
	"math/rand/v2"

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
// nearest-even rounding: per tile the exact integer dot product, scaled and
// rounded to FP32, accumulated in FP32 in tile order, starting from C when
// g.Accumulate.
func Product(g backend.GEMM, bits, tile int) []float32 {
	out := make([]float32, g.M*g.N)
	for i := 0; i < g.M; i++ {
		for j := 0; j < g.N; j++ {
			var acc float32
			if g.Accumulate {
				acc = g.C[i*g.LDC+j]
			}
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
				for p := range qa {
					P.Add(P, new(big.Int).Mul(big.NewInt(qa[p]), big.NewInt(qb[p])))
				}
				v, _ := new(big.Float).SetMantExp(new(big.Float).SetInt(P), ea+eb).Float32()
				acc += v
			}
			out[i*g.N+j] = acc
		}
	}
	return out
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
