//go:build !purego

package bfp

import "golang.org/x/sys/cpu"

// hasAVX2 selects the AVX2 kernels of quant_amd64.s. It is set once at
// start-up from the CPU's features and never changes.
var hasAVX2 = cpu.X86.HasAVX2

// maxAbsBitsAVX2 returns the largest |x| as FP32 bits; len(x) must be a
// multiple of 8.
//
//go:noescape
func maxAbsBitsAVX2(x []float32) uint32

// roundScaleAVX2 sets out[i] = clamp(roundEven(x[i]·inv), ±qmax)·scale;
// len(x) must be a multiple of 8 and len(out) ≥ len(x).
//
//go:noescape
func roundScaleAVX2(out, x []float32, inv, scale, qmax float32)

// maxAbsBitsRowAVX2 sets mb[i] = max(mb[i], bits(|x[i]|)); len(x) must be
// a multiple of 8 and len(mb) ≥ len(x).
//
//go:noescape
func maxAbsBitsRowAVX2(mb []uint32, x []float32)

// roundMagicRowAVX2 sets out[i] = (x[i] + magic[i]) - magic[i] in FP32;
// len(x) must be a multiple of 8, the other slices at least as long.
//
//go:noescape
func roundMagicRowAVX2(out, x, magic []float32)

// roundMagicClampRowAVX2 is roundMagicRowAVX2 followed by a clamp to
// ±lim[i].
//
//go:noescape
func roundMagicClampRowAVX2(out, x, magic, lim []float32)

// quantRowsAVX2 quantises job.rows contiguous rows (nearest rounding) and
// returns how many it completed: it stops before a row holding Inf or NaN
// or a block whose scale needs the float64 path, for Go to handle. Before
// the job's last row it may write a few elements past a block, which it
// (or Go, for the row it stops at) writes again afterwards; nothing past
// the job's rows.
//
//go:noescape
func quantRowsAVX2(job *rowJob) int

// maxAbsBitsColsAVX2 sets mb[i] = max(mb[i], bits(|src[p·ld+i]|)) for
// i < len(mb) and p < rows: the column maxima of a tile stored row-major.
// src must hold (rows-1)·ld+len(mb) elements.
//
//go:noescape
func maxAbsBitsColsAVX2(mb []uint32, src []float32, ld, rows int)

// roundMagicColsAVX2 sets out[p·ldo+i] = (src[p·ld+i] + magic[i]) -
// magic[i] in FP32 for i < len(magic) and p < rows, clamped to ±lim[i]
// unless lim is empty: roundMagicRow (or roundMagicClampRow) on every row
// of a tile in one call. out and src must hold (rows-1)·ld+len(magic)
// elements for their strides, lim none or len(magic). When out's rows are
// contiguous (ldo = len(magic) ≥ 8) a row's last vector may spill onto the
// next row's first columns, which that row then writes; nothing past the
// last row is written.
//
//go:noescape
func roundMagicColsAVX2(out []float32, ldo int, src []float32, ld, rows int, magic, lim []float32)

// hasAVX512DQ selects the AVX-512 kernels of stochastic rounding (64-bit
// multiplies and conversions are AVX-512DQ).
var hasAVX512DQ = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

// stochasticBlockAVX512 sets out[j] to Quantiser.stochastic of x[j] with
// the given inverse scale, scale and key, for element index i0+j, for the
// first len(x)&^7 elements; len(out) ≥ len(x).
//
//go:noescape
func stochasticBlockAVX512(out, x []float32, inv, scale, qmax float64, key uint64, i0 int)

// stochasticColsAVX512 is stochasticBlockAVX512 with per-element inverse
// scales inv[j] and scales scale[j] (as long as x, at least).
//
//go:noescape
func stochasticColsAVX512(out, x []float32, inv, scale []float64, qmax float64, key uint64, i0 int)
