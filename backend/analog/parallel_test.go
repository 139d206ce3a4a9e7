package analog

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
	"github.com/mirage-go/mirage/backend/bfpengine/bfptest"
)

// product gives what a plain serial model of the readout gives, bit for
// bit, with the same noise draws and the same counters (readouts, ADC
// clips), call after call, on 1, 2 and 3 goroutines: products cut into
// many blocks and small ones, weight-gradient shapes (small output, long
// K: partitioned by tiles, in one round or several; or blocks cut along
// columns), large wide outputs (tile-major), K a multiple of the tile or not, zero
// blocks on both sides (rows and columns whose tiles are skipped),
// accumulation, noise on and off, a converter that clips.
//
// The reference takes P and the scales from bfptest's independent
// quantiser (math on integers), draws each block's noise from its stream in
// the order tile, row, column with the same sampler (whose distribution
// noise_test.go checks against the Gaussian model), and adds the readouts
// in tile order.
func TestParallelReadoutMatchesSerial(t *testing.T) {
	cases := []struct {
		m, n, k    int
		accumulate bool
		opts       backend.Options
	}{
		{300, 40, 300, false, backend.Options{}},
		{300, 40, 300, true, backend.Options{}},
		{257, 33, 128, false, backend.Options{"noise-sigma": "0"}},
		{64, 200, 450, true, backend.Options{"adc-bits": "4", "noise-sigma": "3"}},
		{16, 144, 128 * 20, false, backend.Options{"adc-bits": "8", "noise-sigma": "0.3"}},
		{64, 130, 128*9 + 3, true, backend.Options{"adc-bits": "8", "noise-sigma": "0.3"}},
		{16, 144, 128*20 + 5, true, backend.Options{"noise-sigma": "0"}},
		{16, 144, 128*20 + 5, true, backend.Options{"adc-bits": "4", "noise-sigma": "3"}},
		{40, 150, 128 * 10, true, backend.Options{"adc-bits": "8", "noise-sigma": "0.3"}},
		{230, 290, 260, true, backend.Options{"adc-bits": "8", "noise-sigma": "0.3"}},
		{230, 290, 260, false, backend.Options{"noise-sigma": "0"}},
		{5, 7, 129, false, backend.Options{"tile": "64"}},
	}
	for _, tc := range cases {
		// The reference, once per case: three calls, with the noise keys
		// the backend draws.
		keys := newBackend(t, tc.opts)
		require.Less(t, tc.m*tc.k, 1<<18, "one product call per GEMM, so one noise key per call")
		rng := rand.New(rand.NewPCG(uint64(tc.m), uint64(tc.k)))
		var gs []backend.GEMM
		var wants [][]float32
		var readouts, clipped int64
		for call := range 3 {
			g := bfptest.RandomGEMM(rng, tc.m, tc.n, tc.k, call == 1, call == 2, tc.accumulate, 0)
			zeroBlocks(rng, &g)
			var key uint64
			noisy := keys.noisy[fwd.Role] && keys.cfg.NoiseSigma > 0
			if noisy {
				key = keys.rng.Uint64()
			}
			want, r, c := serialReference(keys, g, key, noisy)
			gs, wants = append(gs, g), append(wants, want)
			readouts, clipped = readouts+r, clipped+c
		}
		if tc.opts["adc-bits"] == "4" {
			require.Positive(t, clipped, "the case is meant to clip")
		}
		for _, procs := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%dx%dx%d acc=%v %v procs=%d", tc.m, tc.n, tc.k, tc.accumulate, tc.opts, procs), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				fast := newBackend(t, tc.opts)
				for call, g := range gs {
					got := bfptest.Run(t, fast, fwd, g)
					require.Equal(t, math32bits(wants[call]), math32bits(got), "call %d", call)
				}
				total := fast.Stats().(*bfpengine.Report).Total
				require.Equal(t, readouts, total.Readouts)
				require.Equal(t, clipped, total.ADCClipped)
				// Tiles skipped for a zero block: all tile outputs but
				// the readouts, as in the reference.
				tiles := int64((tc.k + fast.cfg.Tile - 1) / fast.cfg.Tile)
				require.Equal(t, 3*int64(tc.m*tc.n)*tiles, total.TileOutputs)
				require.Positive(t, total.TileOutputs-total.Readouts, "the case has zero blocks")
			})
		}
	}
}

// zeroBlocks clears a few whole rows of op(A) and columns of op(B), and a
// stretch of K in some others, so that whole blocks are flushed to zero.
func zeroBlocks(rng *rand.Rand, g *backend.GEMM) {
	for range 1 + g.M/10 {
		i, p0 := rng.IntN(g.M), rng.IntN(g.K)
		for p := p0; p < min(g.K, p0+200); p++ {
			bfptest.SetA(g, i, p, 0)
		}
	}
	for range 1 + g.N/10 {
		j := rng.IntN(g.N)
		for p := range g.K {
			if g.TransB {
				g.B[j*g.LDB+p] = 0
			} else {
				g.B[p*g.LDB+j] = 0
			}
		}
	}
}

func math32bits(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = math.Float32bits(x)
	}
	return out
}

// serialReference is the readout model on one goroutine: for each work
// item in order (an output block over all tiles, or one tile of the whole
// output; see partition), its stream started from key, then for each tile,
// row and column of the item, the live tile's P read as
// clamp(roundEven(P/Δ [+ noise]))·Δ·2^(ea+eb), summed in FP32 in tile
// order starting from the first tile's readout, then added to C when accumulating. It returns the M×N result and
// the readouts and ADC clips.
func serialReference(b *Backend, g backend.GEMM, key uint64, noisy bool) (out []float32, readouts, clipped int64) {
	bits, tile := b.cfg.Bits, b.cfg.Tile
	step := b.cfg.Step
	lo, hi := -math.Ldexp(1, b.cfg.ADCBits-1), math.Ldexp(1, b.cfg.ADCBits-1)-1
	parts := make([][]bfptest.TilePart, g.M*g.N)
	for i := range g.M {
		for j := range g.N {
			parts[i*g.N+j] = bfptest.TileParts(g, bits, tile, i, j)
		}
	}
	tiles := (g.K + tile - 1) / tile
	out = make([]float32, g.M*g.N)
	// The work items and their noise streams: blocks over all tiles, or
	// tiles of the whole output.
	part := partition(g.M, g.N, tiles)
	type span struct{ item, t0, t1, i0, i1, j0, j1 int }
	var spans []span
	for item := range part.count() {
		switch part.mode {
		case byTiles:
			spans = append(spans, span{item, item, item + 1, 0, g.M, 0, g.N})
		case tileMajor:
			t, blk := item/part.rowBlocks, item%part.rowBlocks
			i0, i1, _, _ := part.bounds(blk)
			spans = append(spans, span{item, t, t + 1, i0, i1, 0, g.N})
		default:
			i0, i1, j0, j1 := part.bounds(item)
			spans = append(spans, span{item, 0, tiles, i0, i1, j0, j1})
		}
	}
	s := newStream()
	for _, sp := range spans {
		s.reset(key, sp.item)
		for t := sp.t0; t < sp.t1; t++ {
			for i := sp.i0; i < sp.i1; i++ {
				for j := sp.j0; j < sp.j1; j++ {
					p := parts[i*g.N+j][t]
					if !p.Live {
						continue
					}
					readouts++
					x := float64(p.P) / step
					code := math.RoundToEven(x)
					if noisy {
						code = b.noise.code(x, s)
					}
					if code < lo || code > hi {
						clipped++
						code = max(lo, min(hi, code))
					}
					// The first tile's readout is the sum so far, -0
					// included (0 + -0 would be +0).
					if v := float32(math.Ldexp(code*step, p.Exp)); t == 0 {
						out[i*g.N+j] = v
					} else {
						out[i*g.N+j] += v
					}
				}
			}
		}
	}
	if g.Accumulate {
		for i := range g.M {
			for j := range g.N {
				out[i*g.N+j] = g.C[i*g.LDC+j] + out[i*g.N+j]
			}
		}
	}
	return out, readouts, clipped
}

// TestPartition: blocks cover the output exactly once, hold at most
// blockElements outputs, and products with enough work get at least
// minBlocks of them; small outputs over many tiles are partitioned by
// tiles.
func TestPartition(t *testing.T) {
	p := partition(64, 130, 10)
	require.Equal(t, byTiles, p.mode)
	require.Less(t, max(minBlocks, roundOutputs/(64*130)), 10, "the 64×130 case of TestParallelReadoutMatchesSerial runs in two rounds")
	for _, s := range [][3]int{{1, 1, 1}, {1792, 16, 2}, {1792, 144, 1}, {16, 144, 1024}, {64, 576, 1024}, {40, 150, 10}, {512, 2048, 4}, {128, 512, 16}, {300, 256, 1}, {3, 5000, 4}, {131072, 3, 1}, {7, 9, 1000}, {2, 2, 2}} {
		m, n, tiles := s[0], s[1], s[2]
		p := partition(m, n, tiles)
		switch p.mode {
		case byTiles:
			require.LessOrEqualf(t, m*n, blockElements, "%v", s)
			require.Equalf(t, tiles, p.count(), "%v: one item per tile", s)
			continue
		case tileMajor:
			require.Equalf(t, n, p.cols, "%v: rows of whole tiles", s)
			require.Equalf(t, tiles*p.rowBlocks, p.count(), "%v", s)
			require.GreaterOrEqualf(t, p.rowBlocks, min(m, minBlocks), "%v", s)
			continue
		}
		seen := make([]int, m*n)
		for blk := range p.count() {
			i0, i1, j0, j1 := p.bounds(blk)
			require.LessOrEqual(t, (i1-i0)*(j1-j0), blockElements, "%v block %d", s, blk)
			for i := i0; i < i1; i++ {
				for j := j0; j < j1; j++ {
					seen[i*n+j]++
				}
			}
		}
		for k, c := range seen {
			require.Equalf(t, 1, c, "%v: output %d is in %d blocks", s, k, c)
		}
		if tiles*m*n >= parallelReadouts && m*n >= minBlocks*columnGranularity {
			require.GreaterOrEqualf(t, p.count(), minBlocks, "%v: %+v", s, p)
		}
	}
}

// TestResumeReproducesNoise: a state saved after some noisy calls and
// restored into a new backend gives the same outputs and statistics for
// the calls that follow as the backend that went on running.
func TestResumeReproducesNoise(t *testing.T) {
	opts := backend.Options{"adc-bits": "8", "noise-sigma": "0.5"}
	rng := rand.New(rand.NewPCG(21, 22))
	var gs []backend.GEMM
	for range 4 {
		gs = append(gs, bfptest.RandomGEMM(rng, 200, 30, 300, false, true, false, 0))
	}
	a := newBackend(t, opts)
	bfptest.Run(t, a, fwd, gs[0])
	bfptest.Run(t, a, fwd, gs[1])
	state, err := a.MarshalState()
	require.NoError(t, err)
	b := newBackend(t, opts)
	require.NoError(t, b.UnmarshalState(state))
	for _, g := range gs[2:] {
		require.Equal(t, math32bits(bfptest.Run(t, a, fwd, g)), math32bits(bfptest.Run(t, b, fwd, g)))
	}
	require.Equal(t, a.Stats(), b.Stats())
	// And the noise does change from call to call.
	require.NotEqual(t, bfptest.Run(t, a, fwd, gs[0]), bfptest.Run(t, a, fwd, gs[0]))
}

// BenchmarkReadout times one forward GEMM the size of a LeNet-5 conv1
// block (12,544 × 6 over 25), of a ResNet-20 stage-1 block (1,792 × 16
// over 144, one row block of the engine) and of a stage-1 weight gradient
// (16 × 144 over 131,072), noisy (the default σ) and noise-free. Run each
// in its own process when comparing (the first benchmark of a process pays
// for its warm-up), e.g. -test.bench 'Readout/1792x16x144/sigma=0$'.
func BenchmarkReadout(b *testing.B) {
	for _, size := range [][3]int{{12544, 6, 25}, {1792, 16, 144}, {16, 144, 131072}} {
		rng := rand.New(rand.NewPCG(1, 2))
		g := bfptest.RandomGEMM(rng, size[0], size[1], size[2], size[0] < 100, true, false, 0)
		for _, sigma := range []string{"0.08", "0"} {
			b.Run(fmt.Sprintf("%dx%dx%d/sigma=%s", size[0], size[1], size[2], sigma), func(b *testing.B) {
				be, err := Factory(backend.Options{"noise-sigma": sigma})
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if err := be.MatMul(fwd, g); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
