package datasets

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// fakeSet has n examples of shape [2]: example i is (i, a) with label i%7,
// where a is a draw from the augmentation generator (or -1 without one).
// It allocates nothing, so allocation counts measure the loader alone.
type fakeSet struct{ n int }

func (f fakeSet) Len() int          { return f.n }
func (f fakeSet) Shape() []int      { return []int{2} }
func (f fakeSet) Classes() []string { return []string{"0", "1", "2", "3", "4", "5", "6"} }
func (f fakeSet) Example(i int, dst []float32, rng *rand.Rand) int {
	dst[0] = float32(i)
	dst[1] = -1
	if rng != nil {
		dst[1] = rng.Float32()
	}
	return i % 7
}

// batchCopy is a batch copied out of the loader's reused buffers.
type batchCopy struct {
	X      []float32
	Labels []int
	N      int
	Index  int
}

func collect(t *testing.T, l *Loader, epoch int) []batchCopy {
	t.Helper()
	it := l.Epoch(epoch)
	defer it.Close()
	var out []batchCopy
	for {
		b, ok := it.Next()
		if !ok {
			return out
		}
		out = append(out, batchCopy{append([]float32(nil), b.X...), append([]int(nil), b.Labels...), b.N, b.Index})
	}
}

func TestLoaderBatches(t *testing.T) {
	for _, tc := range []struct {
		name      string
		n, bs     int
		wantSizes []int
	}{
		{"exact", 12, 4, []int{4, 4, 4}},
		{"partial last batch kept", 10, 4, []int{4, 4, 2}},
		{"one batch", 3, 8, []int{3}},
		{"empty", 0, 4, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, shuffle := range []bool{false, true} {
				l := NewLoader(fakeSet{tc.n}, tc.bs, shuffle, false, 1)
				require.Equal(t, len(tc.wantSizes), l.Len())
				batches := collect(t, l, 0)
				seen := make([]int, tc.n)
				var sizes []int
				for bi, b := range batches {
					require.Equal(t, bi, b.Index)
					require.Len(t, b.X, b.N*2)
					require.Len(t, b.Labels, b.N)
					sizes = append(sizes, b.N)
					for k := range b.N {
						i := int(b.X[2*k])
						seen[i]++
						require.Equal(t, i%7, b.Labels[k], "label travels with its example")
						require.Equal(t, float32(-1), b.X[2*k+1], "no augmentation requested")
						if !shuffle {
							require.Equal(t, bi*tc.bs+k, i, "unshuffled order is the data set's")
						}
					}
				}
				require.Equal(t, tc.wantSizes, sizes)
				for i, c := range seen {
					require.Equal(t, 1, c, "example %d must appear exactly once per epoch", i)
				}
			}
		})
	}
}

func TestLoaderDeterminism(t *testing.T) {
	const n, bs = 103, 8
	newLoader := func(prefetch int, seed uint64) *Loader {
		l := NewLoader(fakeSet{n}, bs, true, true, seed)
		l.prefetch = prefetch
		return l
	}
	ref := newLoader(2, 42)
	epoch3 := collect(t, ref, 3)

	t.Run("epoch independent of earlier epochs", func(t *testing.T) {
		l := newLoader(2, 42)
		for e := range 3 {
			collect(t, l, e)
		}
		require.Equal(t, epoch3, collect(t, l, 3))
	})
	t.Run("independent of prefetch depth", func(t *testing.T) {
		// With one buffer the filler cannot run ahead at all; with eight it
		// can fill most of the epoch before the caller reads anything.
		for _, p := range []int{0, 1, 7} {
			require.Equal(t, epoch3, collect(t, newLoader(p, 42), 3), "prefetch %d", p)
		}
	})
	t.Run("epochs and seeds differ", func(t *testing.T) {
		require.NotEqual(t, order(epoch3), order(collect(t, newLoader(2, 42), 4)), "epoch 4 reorders")
		require.NotEqual(t, order(epoch3), order(collect(t, newLoader(2, 43), 3)), "another seed reorders")
	})
	t.Run("augmentation draws differ between batches", func(t *testing.T) {
		first := map[float32]bool{}
		for _, b := range epoch3 {
			first[b.X[1]] = true
		}
		require.Len(t, first, len(epoch3), "each batch has its own generator stream")
	})
}

func order(bs []batchCopy) []float32 {
	var o []float32
	for _, b := range bs {
		for k := range b.N {
			o = append(o, b.X[2*k])
		}
	}
	return o
}

func TestLoaderAbandonedEpochStopsGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t)
	l := NewLoader(fakeSet{1000}, 10, true, true, 1)

	t.Run("close after one batch", func(t *testing.T) {
		it := l.Epoch(0)
		_, ok := it.Next()
		require.True(t, ok)
		it.Close()
		it.Close() // idempotent
		_, ok = it.Next()
		require.False(t, ok, "a closed epoch yields nothing")
	})
	t.Run("starting another epoch closes the previous", func(t *testing.T) {
		old := l.Epoch(1)
		_, ok := old.Next()
		require.True(t, ok)
		it := l.Epoch(2)
		_, ok = old.Next()
		require.False(t, ok)
		require.Len(t, collectFrom(it), 100)
	})
	t.Run("close before reading", func(t *testing.T) {
		l.Epoch(3).Close()
	})
}

func collectFrom(it *Epoch) []int {
	defer it.Close()
	var idx []int
	for {
		b, ok := it.Next()
		if !ok {
			return idx
		}
		idx = append(idx, b.Index)
	}
}

// TestLoaderSteadyStateAllocations checks that the cost of an epoch in
// allocations does not grow with its number of batches: a fixed few per
// epoch (goroutine, channels, iterator), none per batch.
func TestLoaderSteadyStateAllocations(t *testing.T) {
	perEpoch := func(n int) float64 {
		l := NewLoader(fakeSet{n}, 4, true, true, 1)
		collectFrom(l.Epoch(0)) // allocate buffers
		return testing.AllocsPerRun(5, func() {
			it := l.Epoch(1)
			for {
				if _, ok := it.Next(); !ok {
					break
				}
			}
		})
	}
	small, large := perEpoch(40), perEpoch(4000)
	// 990 more batches; allow 5 stray allocations (runtime noise), far
	// below one per batch.
	require.LessOrEqual(t, large-small, 5.0, "epoch of 10 batches: %v allocs, of 1000 batches: %v", small, large)
	require.Less(t, small, 20.0)
}

// imageSet is a fake data set of n images of shape [1 28 28] whose Example
// costs about what a real MNIST example costs (one table lookup per pixel).
type imageSet struct {
	n      int
	pixels []uint8
	table  [256]float32
}

func (s *imageSet) Len() int          { return s.n }
func (s *imageSet) Shape() []int      { return []int{1, 28, 28} }
func (s *imageSet) Classes() []string { return nil }
func (s *imageSet) Example(i int, dst []float32, _ *rand.Rand) int {
	for j, p := range s.pixels[(i%16)*784 : (i%16+1)*784] {
		dst[j] = s.table[p]
	}
	return i % 10
}

// BenchmarkLoaderEpoch measures how fast an MNIST-sized epoch can be
// consumed when the caller does no work: the loader's own ceiling.
func BenchmarkLoaderEpoch(b *testing.B) {
	s := &imageSet{n: 60000, pixels: make([]uint8, 16*784)}
	for i := range s.pixels {
		s.pixels[i] = uint8(i)
	}
	l := NewLoader(s, 128, true, false, 1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		it := l.Epoch(i)
		for {
			if _, ok := it.Next(); !ok {
				break
			}
		}
	}
	b.ReportMetric(float64(b.N)*60000/b.Elapsed().Seconds(), "images/s")
}

// TestLoaderDroppedEpochIsCollected drops an unfinished epoch and its loader
// without Close: the cleanup registered on the epoch must stop the
// goroutine once the garbage collector has found them unreachable.
func TestLoaderDroppedEpochIsCollected(t *testing.T) {
	func() {
		l := NewLoader(fakeSet{1000}, 10, true, false, 1)
		it := l.Epoch(0)
		_, ok := it.Next()
		require.True(t, ok)
	}()
	runtime.GC() // finds the epoch unreachable and queues its cleanup
	runtime.GC()
	goleak.VerifyNone(t) // retries while the cleanup and the goroutine finish
}
