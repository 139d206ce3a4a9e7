package bfpengine

import (
	"errors"
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
