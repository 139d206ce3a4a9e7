package analog

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
	"github.com/mirage-go/mirage/backend/bfpengine/bfptest"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
)

// product gives what the one-goroutine loop it replaced gives, bit for
// bit, with the same noise draws and the same counters (readouts, ADC
// clips), call after call, noise-free products running in parallel: products large enough
// to run in parallel and small ones, K a multiple of the tile or not,
// zero blocks on both sides (rows and columns whose blocks are skipped),
// accumulation, noise on and off, a converter that clips.
func TestParallelReadoutMatchesSerial(t *testing.T) {
	cases := []struct {
		m, n, k    int
		accumulate bool
		opts       backend.Options
	}{
		{300, 40, 300, false, backend.Options{}},
		{300, 40, 300, true, backend.Options{}},
		{257, 33, 128, false, backend.Options{"noise-sigma": "0"}},
		{64, 200, 450, true, backend.Options{"adc-bits": "4", "noise-sigma": "1.5"}},
		{5, 7, 129, false, backend.Options{"tile": "64"}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%dx%dx%d acc=%v %v", tc.m, tc.n, tc.k, tc.accumulate, tc.opts), func(t *testing.T) {
			fast, slow := newBackend(t, tc.opts), newBackend(t, tc.opts)
			slow.productFunc = func(g *backend.GEMM, qa, qb *ibfp.Matrix, c *bfpengine.Counters) error {
				return serialProduct(slow, g, qa, qb, c)
			}
			rng := rand.New(rand.NewPCG(uint64(tc.m), uint64(tc.k)))
			for call := range 3 {
				g := bfptest.RandomGEMM(rng, tc.m, tc.n, tc.k, call == 1, call == 2, tc.accumulate, 0)
				zeroBlocks(rng, &g)
				got := bfptest.Run(t, fast, fwd, g)
				want := bfptest.Run(t, slow, fwd, g)
				require.Equal(t, math32bits(want), math32bits(got), "call %d", call)
			}
			js := func(b *Backend) string {
				out, err := json.Marshal(b.Stats())
				require.NoError(t, err)
				return string(out)
			}
			require.Equal(t, js(slow), js(fast))
		})
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

// serialProduct is the readout loop product had before it ran in
// parallel, kept as the reference.
func serialProduct(b *Backend, g *backend.GEMM, qa, qb *ibfp.Matrix, c *bfpengine.Counters) error {
	m, n := g.M, g.N
	tiles := qa.Tiles()
	c.TileOutputs += int64(tiles) * int64(m) * int64(n)
	if tiles == 0 {
		if !g.Accumulate {
			for i := range m {
				clear(g.C[i*g.LDC : i*g.LDC+n])
			}
		}
		return nil
	}
	// Each tile's exact values land in tile; the ADC readouts are summed in
	// tile order into r, which is C itself unless C's old values are needed.
	if cap(b.scratch) < 2*m*n {
		b.scratch = make([]float32, 2*m*n)
	}
	tile := b.scratch[:m*n]
	r, ldr := g.C, g.LDC
	if g.Accumulate {
		r, ldr = b.scratch[m*n:2*m*n], n
	}
	// A tile with a zero block on either side is exactly 0 and is not read
	// out (see the package documentation): its exponent is a placeholder,
	// and scaling the ADC noise by it was once a bug that made every noisy
	// run diverge.
	b.zeroA, b.zeroB = qa.ZeroBlocks(b.zeroA), qb.ZeroBlocks(b.zeroB)
	step := b.cfg.Step
	lo, hi := -math.Ldexp(1, b.cfg.ADCBits-1), math.Ldexp(1, b.cfg.ADCBits-1)-1
	b.invB, b.scB = grow(b.invB, n), grow(b.scB, n)
	var readouts int64
	for t := range tiles {
		ibfp.TileGEMM(qa, qb, t, tile, n)
		// Powers of two, multiplied in float64: exact, and cheaper than
		// math.Ldexp per element. A zero block of B gets scale 0.
		for j := range n {
			e := int(qb.Exp[j*tiles+t])
			b.invB[j], b.scB[j] = pow2(-e), pow2(e)
			if b.zeroB[j*tiles+t] {
				b.scB[j] = 0
			}
		}
		for i := range m {
			ri := r[i*ldr : i*ldr+n]
			if b.zeroA[i*tiles+t] {
				if t == 0 {
					clear(ri)
				}
				continue
			}
			e := int(qa.Exp[i*tiles+t])
			invA, scA := pow2(-e), pow2(e)
			ti := tile[i*n : (i+1)*n]
			for j := range ri {
				if b.scB[j] == 0 {
					if t == 0 {
						ri[j] = 0
					}
					continue
				}
				readouts++
				p := float64(ti[j]) * invA * b.invB[j] // the exact integer P
				code := p / step
				if b.noisyNow {
					code += b.rng.NormFloat64() * b.cfg.NoiseSigma
				}
				code = math.RoundToEven(code)
				if code < lo || code > hi {
					c.ADCClipped++
					code = max(lo, min(hi, code))
				}
				v := float32(code * step * scA * b.scB[j])
				if t == 0 {
					ri[j] = v
				} else {
					ri[j] += v
				}
			}
		}
	}
	c.Readouts += readouts
	if g.Accumulate {
		for i := range m {
			ci := g.C[i*g.LDC : i*g.LDC+n]
			for j := range ci {
				ci[j] += r[i*ldr+j]
			}
		}
	}
	return nil
}

// BenchmarkReadout times one forward GEMM the size of a LeNet-5 conv1
// block (12,544 × 6 over 25) and of a ResNet-20 stage-1 block (4,096 × 16
// over 144), noisy (the default σ) and noise-free: the parallel readout
// against the serial loop. Run each in its own process when comparing
// (the first benchmark of a process pays for its warm-up), e.g.
// -test.bench 'Readout/4096x16x144/sigma=0$/serial=false'.
func BenchmarkReadout(b *testing.B) {
	for _, size := range [][3]int{{12544, 6, 25}, {4096, 16, 144}} {
		rng := rand.New(rand.NewPCG(1, 2))
		g := bfptest.RandomGEMM(rng, size[0], size[1], size[2], false, true, false, 0)
		for _, sigma := range []string{"0.08", "0"} {
			for _, serial := range []bool{false, true} {
				b.Run(fmt.Sprintf("%dx%dx%d/sigma=%s/serial=%v", size[0], size[1], size[2], sigma, serial), func(b *testing.B) {
					be, err := Factory(backend.Options{"noise-sigma": sigma})
					if err != nil {
						b.Fatal(err)
					}
					a := be.(*Backend)
					if serial {
						a.productFunc = func(g *backend.GEMM, qa, qb *ibfp.Matrix, c *bfpengine.Counters) error {
							return serialProduct(a, g, qa, qb, c)
						}
					}
					for b.Loop() {
						if err := a.MatMul(fwd, g); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
