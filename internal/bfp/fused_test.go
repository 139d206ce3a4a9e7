package bfp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend/bfpengine/bfptest"
)

// columnOperand returns a k×ld source (ld ≥ cols, the padding filled with
// garbage) whose columns mix the cases the column quantiser distinguishes:
// ordinary blocks, all-zero and subnormal blocks (flushed), blocks whose
// largest element rounds past qmax (the clamp), when wide scales outside
// FP32's normal range (the float64 path), and when nonFinite Inf and NaN.
// (Without them, the blocks are those the FP32 rounding of ScaleRuns
// takes, drawn from the same random numbers.)
func columnOperand(rng *rand.Rand, k, cols, ld, tile, bits int, nonFinite, wide bool) []float32 {
	src := make([]float32, (k-1)*ld+cols)
	for i := range src {
		src[i] = float32(math.NaN()) // padding: must never be read
	}
	qmax := float64(int64(1)<<(bits-1) - 1)
	tiles := (k + tile - 1) / tile
	for j := range cols {
		for t := range tiles {
			k0, k1 := t*tile, min((t+1)*tile, k)
			kind := rng.IntN(10)
			mag := math.Ldexp(1, rng.IntN(40)-20)
			for p := k0; p < k1; p++ {
				x := rng.NormFloat64() * mag
				switch kind {
				case 0:
					x = 0
				case 1:
					x = rng.NormFloat64() * 1e-40 // subnormal: flushed
				case 2:
					if wide {
						x *= 1e-37 // scale below FP32's normal range
					}
				case 3:
					if wide {
						x = math.Min(x, 3e38) // scale above the magic range
					}
				}
				src[p*ld+j] = float32(x)
			}
			p := k0 + rng.IntN(k1-k0)
			switch {
			case kind == 4:
				// The largest element just below qmax+1/2 steps of the
				// block's scale, or just at it: rounds to qmax or past it.
				e := math.Ldexp(mag, -int(bits)+2)
				src[p*ld+j] = float32((qmax + 0.5 - float64(rng.IntN(2))*0x1p-10) * e * math.Copysign(1, rng.NormFloat64()))
			case kind == 5 && nonFinite:
				src[p*ld+j] = []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}[rng.IntN(3)]
			}
		}
	}
	return src
}

// TestFusedColumnsMatchRowByRow: the whole-tile SIMD kernels for operands
// stored as columns give the same matrix, bit for bit (the sign of zeros
// included), as the row-by-row path they replace, on random shapes: column
// counts around the SIMD width and the tile-split threshold, K not a
// multiple of the tile, padded strides, every block kind, and operands
// large enough to be split among goroutines (by tiles when the columns are
// few, by columns otherwise).
func TestFusedColumnsMatchRowByRow(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2 kernels on this machine: both paths are the same Go code")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	type shape struct{ cols, k, tile, bits int }
	shapes := []shape{
		{1, 1, 1, 2}, {1, 7, 4, 6}, {7, 9, 8, 6}, {8, 16, 16, 6}, {9, 33, 16, 6},
		{15, 100, 32, 5}, {16, 128, 128, 6}, {17, 129, 128, 6}, {25, 300, 128, 6},
		{31, 47, 21, 12}, {33, 65, 64, 8}, {63, 200, 128, 6}, {64, 130, 128, 6},
		{150, 150, 128, 6}, {200, 37, 16, 4},
		// Large enough for several goroutines (≥ parallelMin elements).
		{25, 2000, 128, 6}, {6, 6000, 128, 6}, {150, 400, 128, 6}, {6400, 16, 128, 6},
	}
	for i := 0; i < 30; i++ {
		shapes = append(shapes, shape{1 + rng.IntN(80), 1 + rng.IntN(400), 1 + rng.IntN(130), 2 + rng.IntN(6)})
	}
	for _, s := range shapes {
		f := Format{Bits: s.bits, Tile: s.tile}
		if f.Validate() != nil {
			f.Tile = LargestTile(f.Bits, ExactLimit-1)
		}
		for _, nonFinite := range []bool{false, true} {
			ld := s.cols + rng.IntN(3)
			src := columnOperand(rng, s.k, s.cols, ld, f.Tile, f.Bits, nonFinite, true)
			name := fmt.Sprintf("cols=%d k=%d ld=%d %s nonFinite=%v", s.cols, s.k, ld, formatName(f), nonFinite)
			old := NewQuantiser(f, 1)
			old.fusedColumns = false
			var want, got Matrix
			require.NoError(t, old.Quantise(&want, src, ld, s.cols, s.k, true), name)
			// Reuse a dirty matrix, as the engine does.
			got.Values = make([]float32, s.cols*s.k)
			for i := range got.Values {
				got.Values[i] = -7
			}
			fused := NewQuantiser(f, 1)
			require.True(t, fused.fusedColumns)
			require.NoError(t, fused.Quantise(&got, src, ld, s.cols, s.k, true), name)
			require.Equal(t, want.NonFinite, got.NonFinite, name)
			require.Equal(t, want.Exp, got.Exp, name)
			for i := range want.Values {
				require.Equalf(t, math.Float32bits(want.Values[i]), math.Float32bits(got.Values[i]),
					"%s: value %d (k %d, column %d): row by row %g, fused %g", name, i, i/s.cols, i%s.cols, want.Values[i], got.Values[i])
			}
		}
	}
}

// TestColumnsSplitByTiles: an operand of few long columns, quantised by
// several goroutines each taking a range of tiles, gives every block the
// reference's mantissas and exponent and counts its non-finite blocks
// once.
func TestColumnsSplitByTiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	f := Format{Bits: 6, Tile: 128}
	cols, k := 25, 5000 // 125000 elements, 40 tiles: split by tiles
	src := make([]float32, k*cols)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	for _, p := range []int{5, 2600, 4999} { // NaN blocks in the first, a middle and the last tile
		src[p*cols+3] = float32(math.NaN())
	}
	var m Matrix
	require.NoError(t, NewQuantiser(f, 1).Quantise(&m, src, cols, cols, k, true))
	require.Equal(t, 3, m.NonFinite)
	for v := range cols {
		for t0 := range m.Tiles() {
			k0, k1 := t0*f.Tile, min((t0+1)*f.Tile, k)
			block := make([]float64, k1-k0)
			for p := k0; p < k1; p++ {
				block[p-k0] = float64(src[p*cols+v])
			}
			if v == 3 && (t0 == 0 || t0 == 2600/128 || t0 == m.Tiles()-1) {
				require.True(t, math.IsNaN(float64(m.At(v, k0))), "column %d tile %d", v, t0)
				continue
			}
			wantQ, wantE := bfptest.Quantise(block, f.Bits)
			require.Equal(t, int32(wantE), m.Exp[v*m.Tiles()+t0], "column %d tile %d", v, t0)
			for p := k0; p < k1; p++ {
				require.Equal(t, wantQ[p-k0], m.Mantissa(v, p), "column %d element %d", v, p)
			}
		}
	}
}

// TestColumnKernelTails: the column kernels read and write a row's tail
// (the columns past the last whole vector) as a whole vector when another
// row follows in contiguous memory, and masked otherwise. Against the
// row-by-row Go, for column counts around the vector width, contiguous and
// padded output strides and one to five rows: every output is the
// reference's, and nothing past the tile's last element, nor in the
// padding between padded rows, is written.
func TestColumnKernelTails(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2 kernels on this machine")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	const sentinel = -12345
	for _, n := range []int{1, 3, 7, 8, 9, 15, 16, 17, 25, 31, 33, 150} {
		for rows := 1; rows <= 5; rows++ {
			for _, pad := range []int{0, 2} {
				for _, clamp := range []bool{false, true} {
					name := fmt.Sprintf("n=%d rows=%d pad=%d clamp=%v", n, rows, pad, clamp)
					ld, ldo := n+rng.IntN(3), n+pad
					src := make([]float32, (rows-1)*ld+n)
					for i := range src {
						src[i] = float32(rng.NormFloat64() * 4)
					}
					magic, lim := make([]float32, n), make([]float32, n)
					for i := range magic {
						e := rng.IntN(6) - 3
						magic[i] = math.Float32frombits(uint32(150+e)<<23 | 0x400000)
						lim[i] = 31 * float32(math.Ldexp(1, e))
					}
					if !clamp {
						lim = lim[:0]
					}
					out := make([]float32, (rows-1)*ldo+n+16)
					for i := range out {
						out[i] = sentinel
					}
					roundMagicColsAVX2(out, ldo, src, ld, rows, magic, lim)
					mb := make([]uint32, n)
					maxAbsBitsColsAVX2(mb, src, ld, rows)
					wantMB := make([]uint32, n)
					for p := range rows {
						row := src[p*ld : p*ld+n]
						maxAbsBitsRow(wantMB, row)
						want := make([]float32, n)
						if clamp {
							roundMagicClampRow(want, row, magic, lim)
						} else {
							roundMagicRow(want, row, magic)
						}
						for i := range n {
							require.Equalf(t, math.Float32bits(want[i]), math.Float32bits(out[p*ldo+i]), "%s: row %d column %d", name, p, i)
						}
						if p < rows-1 {
							for i := n; i < ldo; i++ {
								require.Equalf(t, float32(sentinel), out[p*ldo+i], "%s: padding of row %d written", name, p)
							}
						}
					}
					for i := (rows-1)*ldo + n; i < len(out); i++ {
						require.Equalf(t, float32(sentinel), out[i], "%s: written past the tile's end (%d)", name, i)
					}
					require.Equal(t, wantMB, mb, name)
				}
			}
		}
	}
}

// TestRowKernelTails: the row kernel reads and writes a block's tail (the
// elements past its last whole vector) as a whole vector when another row
// of the job follows, and masked in the job's last row. For row lengths and
// tiles around the vector width, one to four rows, ordinary, clamped and
// zero blocks: every row the kernel reports done holds the reference's
// values, and nothing past the job's last element is written.
func TestRowKernelTails(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2 kernels on this machine")
	}
	rng := rand.New(rand.NewPCG(23, 24))
	const sentinel = -12345
	f := Format{Bits: 6, Tile: 1}
	for _, k := range []int{1, 3, 7, 8, 9, 13, 25, 84, 150} {
		for _, tile := range []int{3, 8, 21, 128} {
			for rows := 1; rows <= 4; rows++ {
				name := fmt.Sprintf("k=%d tile=%d rows=%d", k, tile, rows)
				ld := k + rng.IntN(3)
				src := make([]float32, (rows-1)*ld+k)
				for i := range src {
					switch rng.IntN(8) {
					case 0: // zero blocks now and then
						src[i] = 0
					case 1: // near the largest mantissa: the clamp
						src[i] = 31.9
					default:
						src[i] = float32(rng.NormFloat64())
					}
				}
				for p := range k { // a whole zero row when there are several
					if rows > 2 {
						src[ld+p] = 0
					}
				}
				tiles := (k + tile - 1) / tile
				out := make([]float32, rows*k+16)
				for i := range out {
					out[i] = sentinel
				}
				exps := make([]int32, rows*tiles)
				job := rowJob{
					src: &src[0], ld: ld, out: &out[0], rows: rows, k: k, tile: tile,
					exps: &exps[0], shift: f.Bits - 2, qmax: float32(f.MaxMantissa()), tiles: tiles,
					satMant: uint32(1<<(f.Bits-1)-1) << (24 - f.Bits),
				}
				done := quantRowsAVX2(&job)
				require.Equal(t, rows, done, name)
				for v := range rows {
					for t0 := range tiles {
						k0, k1 := t0*tile, min((t0+1)*tile, k)
						block := make([]float64, k1-k0)
						for p := k0; p < k1; p++ {
							block[p-k0] = float64(src[v*ld+p])
						}
						wantQ, wantE := bfptest.Quantise(block, f.Bits)
						for p := k0; p < k1; p++ {
							want := float32(math.Ldexp(float64(wantQ[p-k0]), wantE))
							require.Equalf(t, want, out[v*k+p], "%s: row %d element %d", name, v, p)
						}
					}
				}
				for i := rows * k; i < len(out); i++ {
					require.Equalf(t, float32(sentinel), out[i], "%s: written past the job's end (%d)", name, i)
				}
			}
		}
	}
}
