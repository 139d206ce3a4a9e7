package autograd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend/fp32"
)

// parallelRows covers its rows exactly once, in disjoint pieces.
func TestParallelRowsCoverOnce(t *testing.T) {
	tape := NewTape(nil)
	for _, s := range [][2]int{{0, 5}, {1, 1}, {3, 7}, {64, 1024}, {1 << 15, 1}, {513, 129}} {
		hits := make([]atomic.Int32, s[0])
		tape.parallelRows(s[0], s[1], func(r0, r1 int) {
			for r := r0; r < r1; r++ {
				hits[r].Add(1)
			}
		})
		for r := range hits {
			require.Equal(t, int32(1), hits[r].Load(), "rows %d cols %d: row %d", s[0], s[1], r)
		}
	}
}

// TestParallelRunsMatchRuns: parallelRuns hands every output element
// exactly once the operand indices runs gives it, for broadcasts of one
// long run, of many short ones and of several outer dimensions, above and
// below the size at which it splits the work.
func TestParallelRunsMatchRuns(t *testing.T) {
	tape := NewTape(nil)
	for _, s := range [][2][]int{
		{{64, 1024}, {64, 1024}},      // one run
		{{64, 1024}, {1024}},          // a bias: one run per row
		{{8, 16, 128, 4}, {16, 1, 4}}, // outer dimensions that do not merge
		{{3, 5}, {5}},                 // below the split size
		{{2, 1 << 15}, {2, 1}},        // two long runs, b broadcast along them
		{{40, 3, 300}, {40, 1, 300}},  // a middle dimension broadcast
		{{1 << 16}, {}},               // a scalar operand
	} {
		bc := new(broadcast)
		newBroadcast(bc, "test", s[0], s[1])
		want := make([][2]int, bc.n)
		bc.runs(func(o0, ia, ib, n, sa, sb int) {
			for j := range n {
				want[o0+j] = [2]int{ia + j*sa, ib + j*sb}
			}
		})
		got := make([][2]int, bc.n)
		hits := make([]atomic.Int32, bc.n)
		tape.parallelRuns(bc, func(o0, ia, ib, n, sa, sb int) {
			for j := range n {
				got[o0+j] = [2]int{ia + j*sa, ib + j*sb}
				hits[o0+j].Add(1)
			}
		})
		for o := range hits {
			require.Equal(t, int32(1), hits[o].Load(), "%v %v: output %d", s[0], s[1], o)
			// Element by element: a diff of the whole slices would take
			// testify minutes to print.
			require.Equal(t, want[o], got[o], "%v %v: operand indices of output %d", s[0], s[1], o)
		}
	}
}

// TestRowOpsSameOnAnyCores: the elementwise and row-wise ops that split
// their work over goroutines (Add, Sub, Mul, Div with broadcasting,
// Softmax, LayerNorm, Dropout) give the same values and gradients, bit for bit, on
// one core as on several.
func TestRowOpsSameOnAnyCores(t *testing.T) {
	run := func(procs int) [][]float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		rng := rand.New(rand.NewPCG(7, 7))
		x, bias := randn(rng, 64, 4, 256), randn(rng, 256)
		gamma, beta := randn(rng, 256), randn(rng, 256)
		y := randn(rng, 64, 4, 256)
		tp := NewTape(fp32.New())
		h := tp.Add(x, bias)
		h = tp.Mul(tp.Sub(h, y), tp.Div(y, tp.Add(tp.Mul(y, y), bias)))
		h = tp.LayerNorm(h, gamma, beta, 1e-5)
		h = tp.Softmax(h)
		h = tp.Dropout(h, 0.1, rand.New(rand.NewPCG(8, 8)))
		loss := tp.Sum(tp.Mul(h, y))
		require.NoError(t, tp.Backward(loss))
		return [][]float32{h.Data(), x.Grad(), bias.Grad(), gamma.Grad(), beta.Grad(), y.Grad()}
	}
	one, many := run(1), run(4)
	for i := range one {
		require.Equal(t, len(one[i]), len(many[i]))
		for j := range one[i] {
			require.Equal(t, math.Float32bits(one[i][j]), math.Float32bits(many[i][j]), fmt.Sprintf("result %d element %d", i, j))
		}
	}
}

// TestRepeatedRowsGradMatchesRuns: the gradient of an operand repeated
// along the output's rows (a bias), which sumGradInto splits by the
// operand's elements, equals the sum the broadcast runs take, row after
// row, bit for bit, for values whose sums depend on the order.
func TestRepeatedRowsGradMatchesRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, s := range [][2][]int{{{512, 256}, {256}}, {{8, 64, 1024}, {1024}}, {{300, 129}, {129}}} {
		bc := new(broadcast)
		newBroadcast(bc, "test", s[0], s[1])
		g := make([]float32, bc.n)
		for i := range g {
			g[i] = float32(rng.NormFloat64() * math.Exp(rng.NormFloat64()*5))
		}
		want := make([]float32, numel(s[1]))
		bc.runs(func(o0, ia, ib, n, sa, sb int) {
			for j, v := range g[o0 : o0+n] {
				want[ib+j*sb] += -1 * v
			}
		})
		b := Zeros(s[1]...).SetRequiresGrad(true)
		NewTape(nil).sumGradInto(b, g, bc, false, -1)
		for i := range want {
			require.Equal(t, math.Float32bits(want[i]), math.Float32bits(b.Grad()[i]), "%v %v: element %d", s[0], s[1], i)
		}
	}
}
