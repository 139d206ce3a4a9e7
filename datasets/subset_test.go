package datasets

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// classSorted has n examples stored class by class, like CIFAR-10 image
// folders: example i has label i*classes/n.
type classSorted struct{ n, classes int }

func (c classSorted) Len() int          { return c.n }
func (c classSorted) Shape() []int      { return []int{1} }
func (c classSorted) Classes() []string { return make([]string, c.classes) }
func (c classSorted) Example(i int, dst []float32, _ *rand.Rand) int {
	dst[0] = float32(i)
	return i * c.classes / c.n
}

func TestSubset(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n, limit int
		want     []int // indices into the whole set
	}{
		{"spread evenly", 10, 5, []int{0, 2, 4, 6, 8}},
		{"uneven ratio", 10, 3, []int{0, 3, 6}},
		{"limit at size returns the set", 4, 4, []int{0, 1, 2, 3}},
		{"limit above size returns the set", 3, 9, []int{0, 1, 2}},
		{"zero", 5, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Subset(classSorted{tc.n, 1}, tc.limit)
			require.Equal(t, len(tc.want), s.Len())
			var got []int
			dst := make([]float32, 1)
			for i := range s.Len() {
				s.Example(i, dst, nil)
				got = append(got, int(dst[0]))
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// The reason Subset spreads: a class-sorted set must keep its class mix,
// where its first examples would all have label 0.
func TestSubsetKeepsClassBalance(t *testing.T) {
	const n, classes, limit = 50000, 10, 1000
	s := Subset(classSorted{n, classes}, limit)
	counts := make([]int, classes)
	dst := make([]float32, 1)
	for i := range s.Len() {
		counts[s.Example(i, dst, nil)]++
	}
	for c, k := range counts {
		require.Equal(t, limit/classes, k, "class %d", c)
	}
}
