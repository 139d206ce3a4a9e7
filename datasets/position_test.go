package datasets

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// A position saved after any batch and restored in a new loader (through
// JSON, as a training state stores it) continues with exactly the batches
// the uninterrupted epoch returns: same examples, same order, same
// augmentation draws, whatever the prefetch had filled ahead.
func TestLoaderPositionRoundTrip(t *testing.T) {
	const n, bs, epoch = 103, 8, 5
	ref := collect(t, NewLoader(fakeSet{n}, bs, true, true, 7), epoch)
	for stop := 0; stop <= len(ref); stop++ {
		l := NewLoader(fakeSet{n}, bs, true, true, 7)
		it := l.Epoch(epoch)
		for range stop {
			_, ok := it.Next()
			require.True(t, ok)
		}
		pos := it.Position()
		require.Equal(t, Position{Epoch: epoch, Batch: stop}, pos)
		it.Close()
		data, err := json.Marshal(pos)
		require.NoError(t, err)
		var back Position
		require.NoError(t, json.Unmarshal(data, &back))

		fresh := NewLoader(fakeSet{n}, bs, true, true, 7)
		fresh.prefetch = stop % 3 // the restored position does not depend on it
		rest, err := fresh.Resume(back)
		require.NoError(t, err)
		var got []batchCopy
		for {
			b, ok := rest.Next()
			if !ok {
				break
			}
			got = append(got, batchCopy{append([]float32(nil), b.X...), append([]int(nil), b.Labels...), b.N, b.Index})
		}
		rest.Close()
		require.Equal(t, ref[stop:], append([]batchCopy{}, got...), "resumed after %d batches", stop)
		require.Equal(t, Position{Epoch: epoch, Batch: len(ref)}, rest.Position())
	}
}

func TestLoaderResumeRefusesBadPositions(t *testing.T) {
	l := NewLoader(fakeSet{20}, 8, true, false, 1) // 3 batches
	for _, b := range []int{-1, 4, 1 << 40} {
		_, err := l.Resume(Position{Epoch: 0, Batch: b})
		require.ErrorContains(t, err, "cannot resume at batch")
	}
}
