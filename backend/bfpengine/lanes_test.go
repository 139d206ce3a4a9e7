package bfpengine

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
)

// TestRunBlocksErrors: a block that fails stops the blocks after it, as a
// loop over the blocks would, keeps the statistics of the blocks before
// it, and leaves no lane waiting for a turn that the failed block or the
// skipped ones never took (draws on: every block's product draws in
// turn). A GEMM that is not the block's next call is refused.
func TestRunBlocksErrors(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	fwd := backend.Call{Layer: "fc", Role: backend.Forward}
	e := NewEngine(DefaultSettings())
	lanes := e.LaneEngines(e.Lanes([]backend.Call{fwd}, 10))
	require.Len(t, lanes, 2)
	drawn := 0
	product := func(lane *Engine) ProductFunc {
		return func(g *backend.GEMM, a, b *ibfp.Matrix, c *Counters) error {
			lane.InOrder(func() { drawn++ })
			return nil
		}
	}
	gemm := func() backend.GEMM {
		return backend.GEMM{M: 4, N: 3, K: 5, A: make([]float32, 20), LDA: 5, B: make([]float32, 15), LDB: 3, C: make([]float32, 12), LDC: 3}
	}
	failure := errors.New("block 6 failed")
	err := e.RunBlocks([]backend.Call{fwd}, 10, true, func(k, i int) error {
		if i == 6 {
			return failure
		}
		return lanes[k].MatMul(fwd, gemm(), product(lanes[k]))
	})
	require.ErrorIs(t, err, failure)
	require.Equal(t, int64(6), e.Stats.Calls(fwd), "statistics of blocks 0-5 only")
	require.GreaterOrEqual(t, drawn, 6)

	other := backend.Call{Layer: "fc", Role: backend.GradInput}
	err = e.RunBlocks([]backend.Call{fwd}, 4, true, func(k, i int) error {
		return lanes[k].MatMul(other, gemm(), product(lanes[k]))
	})
	require.ErrorContains(t, err, "is not the next of block 0")
	require.Equal(t, int64(6), e.Stats.Calls(fwd))
	require.Equal(t, int64(0), e.Stats.Calls(other))
}

// TestRunBlocksAddInBlockOrder: GEMMs of role GradWeight, which every
// block adds into one output, add in block order (the output is bit for
// bit that of the blocks run one after another on one engine, over
// values whose sums depend on the order), and a failed block stops the
// additions: the output holds the blocks before it, whichever lane ran
// the blocks after it. The same with the products deferred to Flush.
func TestRunBlocksAddInBlockOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	dw := backend.Call{Layer: "conv", Role: backend.GradWeight}
	const m, n, k, blocks = 8, 12, 300, 9
	rng := rand.New(rand.NewPCG(1, 2))
	operand := func(size int) []float32 {
		x := make([]float32, size)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(30)-15))
		}
		return x
	}
	as, bs := make([][]float32, blocks), make([][]float32, blocks)
	for i := range blocks {
		as[i], bs[i] = operand(m*k), operand(k*n)
	}
	product := func(e *Engine) ProductFunc {
		var scratch []float32
		return func(g *backend.GEMM, a, b *ibfp.Matrix, c *Counters) error {
			scratch = ibfp.Product(e.Team(), a, b, g.C, g.LDC, g.Accumulate, false, scratch)
			return nil
		}
	}
	gemm := func(i int, c []float32) backend.GEMM {
		return backend.GEMM{M: m, N: n, K: k, A: as[i], LDA: k, B: bs[i], LDB: n, C: c, LDC: n, Accumulate: true}
	}
	for _, tc := range []struct {
		failAt int
		defers bool // each block's GEMM deferred to Flush (see Defer)
	}{{blocks, false}, {4, false}, {blocks, true}, {4, true}} {
		failAt := tc.failAt
		settings := DefaultSettings()
		settings.Format.Tile = 16
		settings.StatsEvery = 2
		one := NewEngine(settings)
		want := make([]float32, m*n)
		for i := range failAt {
			require.NoError(t, one.MatMul(dw, gemm(i, want), product(one)))
		}
		e := NewEngine(settings)
		lanes := e.LaneEngines(e.Lanes([]backend.Call{dw}, blocks))
		require.Len(t, lanes, 3)
		products := make([]ProductFunc, len(lanes))
		for l := range lanes {
			products[l] = product(lanes[l])
		}
		got := make([]float32, m*n)
		failure := errors.New("failed")
		err := e.RunBlocks([]backend.Call{dw}, blocks, false, func(l, i int) error {
			if i == failAt {
				return failure
			}
			if !tc.defers {
				return lanes[l].MatMul(dw, gemm(i, got), products[l])
			}
			lanes[l].Defer()
			if err := lanes[l].MatMul(dw, gemm(i, got), products[l]); err != nil {
				return err
			}
			return lanes[l].Flush()
		})
		if failAt < blocks {
			require.ErrorIs(t, err, failure)
		} else {
			require.NoError(t, err)
		}
		for i := range want {
			require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "failing at %d: element %d", failAt, i)
		}
		require.Equal(t, one.Stats.Report("bfp"), e.Stats.Report("bfp"), "failing at %d", failAt)
	}
}
