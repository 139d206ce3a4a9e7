package bench

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseShapes(t *testing.T) {
	tests := []struct {
		in      string
		want    []Shape
		wantErr string
	}{
		{in: "square256", want: []Shape{{Name: "square256", M: 256, N: 256, K: 256}}},
		{in: "12x3x4:tA, 5x6x7:tB:tA", want: []Shape{
			{Name: "12x3x4:tA", M: 12, N: 3, K: 4, TransA: true},
			{Name: "5x6x7:tB:tA", M: 5, N: 6, K: 7, TransA: true, TransB: true},
		}},
		{in: "resnet20-stage1-dW", want: []Shape{{Name: "resnet20-stage1-dW", M: 16, N: 144, K: 131072, TransA: true}}},
		{in: "", wantErr: "no shapes"},
		{in: "square", wantErr: "want a default shape name"},
		{in: "2x0x3", wantErr: "not a positive integer"},
		{in: "2x3x4:tC", wantErr: "unknown suffix"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseShapes(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestDefaultShapesAreConvProducts checks the conv shapes against the
// layer sizes they stand for: forward rows = batch·OH·OW, k = C·KH·KW.
func TestDefaultShapesAreConvProducts(t *testing.T) {
	byName := map[string]Shape{}
	for _, s := range DefaultShapes() {
		byName[s.Name] = s
	}
	require.Equal(t, Shape{Name: "lenet-conv2-fwd", M: 128 * 10 * 10, N: 16, K: 6 * 5 * 5, TransB: true}, byName["lenet-conv2-fwd"])
	require.Equal(t, Shape{Name: "resnet20-stage3-dX", M: 128 * 8 * 8, N: 64 * 9, K: 64}, byName["resnet20-stage3-dX"])
	require.Equal(t, Shape{Name: "resnet20-stage1-dW", M: 16, N: 16 * 9, K: 128 * 32 * 32, TransA: true}, byName["resnet20-stage1-dW"])
}

func TestMedian(t *testing.T) {
	require.Equal(t, 0.0, Median(nil))
	require.Equal(t, 2.0, Median([]float64{3, 1, 2}))
	require.Equal(t, 2.5, Median([]float64{4, 1, 3, 2}))
	in := []float64{3, 1, 2}
	Median(in)
	require.Equal(t, []float64{3, 1, 2}, in, "Median must not reorder its argument")
}

func TestMeasureGEMM(t *testing.T) {
	shapes := []Shape{{Name: "a", M: 8, N: 9, K: 10}, {Name: "b", M: 5, N: 4, K: 3, TransA: true, TransB: true}}
	res, err := MeasureGEMM(Impls(), shapes, Options{Reps: 3, MinRepTime: time.Millisecond})
	require.NoError(t, err)
	require.Len(t, res, len(shapes)*len(Impls()))
	for i, r := range res {
		s := shapes[i/len(Impls())]
		require.Equal(t, Impls()[i%len(Impls())].Name, r.Impl)
		require.Equal(t, [3]int{s.M, s.N, s.K}, [3]int{r.M, r.N, r.K})
		require.Greater(t, r.GFLOPS, 0.0)
	}

	_, err = MeasureGEMM(Impls(), shapes, Options{Reps: 0})
	require.ErrorContains(t, err, "at least 1")
	_, err = MeasureGEMM(nil, shapes, Options{Reps: 1})
	require.ErrorContains(t, err, "no GEMM implementation")
}

func TestImplsAgree(t *testing.T) {
	// Every implementation computes the same product (they are compared
	// for speed only if they are correct). Inputs are small integers, so
	// all sums are exact in float32 and results must match exactly.
	const m, n, k = 7, 5, 9
	a := make([]float32, m*k)
	b := make([]float32, k*n)
	for i := range a {
		a[i] = float32(i%5 - 2)
	}
	for i := range b {
		b[i] = float32(i%3 - 1)
	}
	var want []float32
	for _, impl := range Impls() {
		c := make([]float32, m*n)
		impl.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		if want == nil {
			want = c
			continue
		}
		require.Equal(t, want, c, impl.Name)
	}
}

func TestWriteGEMMTable(t *testing.T) {
	s := Shape{Name: "sq", M: 2, N: 2, K: 2}
	var buf bytes.Buffer
	require.NoError(t, WriteGEMMTable(&buf, []Result{
		{Impl: "mirage", M: 2, N: 2, K: 2, GFLOPS: 30, Shape: s},
		{Impl: "gonum", M: 2, N: 2, K: 2, GFLOPS: 10, Shape: s},
	}))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	require.Equal(t, []string{"shape", "m×n×k", "mirage", "GFLOP/s", "gonum", "GFLOP/s", "mirage/gonum"}, strings.Fields(lines[0]))
	require.Equal(t, []string{"sq", "2x2x2", "30.0", "10.0", "3.00x"}, strings.Fields(lines[1]))
}

func TestLoadAverage(t *testing.T) {
	load := LoadAverage()
	if _, err := os.Stat("/proc/loadavg"); err != nil {
		require.Empty(t, load)
		return
	}
	require.Len(t, strings.Fields(load), 3, "three averages: %q", load)
}
