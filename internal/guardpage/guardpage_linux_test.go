package guardpage

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFloatsUsable: every element of a guarded buffer can be written and
// read back, for lengths around a page.
func TestFloatsUsable(t *testing.T) {
	for _, n := range []int{1, 1023, 1024, 1025, 5000} {
		f := Floats(t, n)
		require.Len(t, f, n)
		for i := range f {
			f[i] = float32(i)
		}
		for i, v := range f {
			require.Equal(t, float32(i), v)
		}
	}
}
