// The race detector changes allocation (its runtime allocates, and
// sync.Pool drops items at random under it), so this test only builds
// without it.

//go:build !race

package bench

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend/fp32"
)

// A warm training step recycles its memory through the tape's arena: it
// allocates a bounded number of small objects and no activation-sized
// buffers, whatever the batch size.
//
// Two counts: testing.AllocsPerRun, which runs on one goroutine
// (GOMAXPROCS=1), must be the same at batch 4 and 64 (the closures of the
// recorded ops: a per-example or per-block cost would differ by hundreds);
// the count on all cores also has the closures of the parallel kernels,
// a few per op when the op is large enough to split, and must stay under
// the same bound.
func TestTrainStepAllocationsDoNotGrowWithBatch(t *testing.T) {
	const (
		maxAllocs = 1000 // objects per step, whatever the batch size
		// Bytes per step, whatever the batch size. At batch 64 a single
		// activation is over 1 MiB (LeNet-5's first convolution output
		// 1.2 MiB, a ResNet-20 stage-1 activation 4 MiB), so a per-step
		// activation buffer would break this bound; what remains is small
		// objects and, now and then, the GEMM's packing buffers, which its
		// sync.Pool drops at a garbage collection and refills.
		maxBytes = 512 << 10
	)
	for _, model := range []string{"lenet", "resnet20"} {
		var serial []float64
		for _, batch := range []int{4, 64} {
			step, err := NewTrainStep(trainCase(t, model, batch), fp32.New(), 1)
			require.NoError(t, err)
			for range 3 { // fill the arena and the optimizer state
				require.NoError(t, step.Run())
			}
			oneCore := testing.AllocsPerRun(4, func() { require.NoError(t, step.Run()) })
			// Collect now, and refill what the collection emptied (the GEMM's
			// sync.Pool of packing buffers) with one more step, so that the
			// window below measures a step, not a collection's aftermath.
			runtime.GC()
			require.NoError(t, step.Run())
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			const steps = 8
			for range steps {
				require.NoError(t, step.Run())
			}
			runtime.ReadMemStats(&after)
			allCores := float64(after.Mallocs-before.Mallocs) / steps
			bytes := float64(after.TotalAlloc-before.TotalAlloc) / steps
			t.Logf("%s batch %d: %.0f allocs on one core, %.0f allocs and %.0f bytes per step on %d cores",
				model, batch, oneCore, allCores, bytes, runtime.GOMAXPROCS(0))
			require.LessOrEqual(t, oneCore, float64(maxAllocs), "%s batch %d", model, batch)
			require.LessOrEqual(t, allCores, float64(maxAllocs), "%s batch %d", model, batch)
			require.LessOrEqual(t, bytes, float64(maxBytes), "%s batch %d", model, batch)
			serial = append(serial, oneCore)
		}
		require.InDelta(t, serial[0], serial[1], 8, "%s: allocations depend on the batch size", model)
	}
}
