// Package bench measures the speed of mirage's kernels against baselines,
// for `mirage bench` and BENCHMARKS.md.
//
// GEMM speed is reported as GFLOP/s, 2·m·n·k floating-point operations per
// product, taken as the median over repetitions. The implementations are
// measured interleaved (one repetition of each in turn), so that a change
// in the machine's load (other processes, frequency) affects all of them
// alike and the ratios stay meaningful on a shared machine.
package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mirage-go/mirage/internal/gemm"
)

// SgemmFunc is the signature shared by every implementation; see gemm.Sgemm.
type SgemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// Impl is a named GEMM implementation.
type Impl struct {
	// Name is "mirage" for gemm.Sgemm, "gonum" for gonum's blas32 and
	// "openblas" for OpenBLAS (only in binaries built with -tags openblas).
	Name  string
	Sgemm SgemmFunc
	// Settle is how long to wait after a repetition of this
	// implementation before timing the next one, for implementations that
	// keep cores busy after they return.
	Settle time.Duration
}

// openBLASSettle is the pause after each OpenBLAS repetition. OpenBLAS's
// worker threads spin (sched_yield) for about 0.1 s after a call before
// they sleep; measured on this project's 2-core machines, that spinning
// took a core from whichever implementation was timed next (gonum, a
// two-thread implementation, fell to its one-thread speed). Waiting until
// they sleep gives every implementation the same idle machine and does not
// change how OpenBLAS runs within its own repetition.
const openBLASSettle = 200 * time.Millisecond

// Impls lists the implementations compiled into this binary.
func Impls() []Impl {
	impls := []Impl{{Name: "mirage", Sgemm: gemm.Sgemm}, {Name: "gonum", Sgemm: gemm.Gonum}}
	if openBLAS != nil {
		impls = append(impls, Impl{Name: "openblas", Sgemm: openBLAS, Settle: openBLASSettle})
	}
	return impls
}

// OpenBLASInfo describes the linked OpenBLAS (configuration, kernel,
// threads), or returns "" when this binary was built without it.
func OpenBLASInfo() string {
	if openBLASInfo == nil {
		return ""
	}
	return openBLASInfo()
}

// Shape is one product C = op(A)·op(B) with op(A) m×k and op(B) k×n.
type Shape struct {
	Name           string
	M, N, K        int
	TransA, TransB bool
}

func (s Shape) String() string {
	t := ""
	if s.TransA {
		t += ":tA"
	}
	if s.TransB {
		t += ":tB"
	}
	return fmt.Sprintf("%dx%dx%d%s", s.M, s.N, s.K, t)
}

// DefaultShapes are square products and the three products of
// convolution layers as mirage runs them, one GEMM per role for the whole
// batch of 128: forward cols(N·OH·OW × C·KH·KW)·Wᵀ, input gradient dY·W
// and weight gradient dYᵀ·cols.
func DefaultShapes() []Shape {
	shapes := []Shape{
		{Name: "square256", M: 256, N: 256, K: 256},
		{Name: "square512", M: 512, N: 512, K: 512},
		{Name: "square1024", M: 1024, N: 1024, K: 1024},
	}
	for _, conv := range []struct {
		name         string
		rows, ckk, o int
	}{
		{"lenet-conv2", 128 * 10 * 10, 6 * 25, 16},
		{"resnet20-stage1", 128 * 32 * 32, 16 * 9, 16},
		{"resnet20-stage3", 128 * 8 * 8, 64 * 9, 64},
	} {
		shapes = append(shapes,
			Shape{Name: conv.name + "-fwd", M: conv.rows, N: conv.o, K: conv.ckk, TransB: true},
			Shape{Name: conv.name + "-dX", M: conv.rows, N: conv.ckk, K: conv.o},
			Shape{Name: conv.name + "-dW", M: conv.o, N: conv.ckk, K: conv.rows, TransA: true},
		)
	}
	return shapes
}

// ParseShapes reads a comma-separated list of shapes, each either the name
// of a default shape (see DefaultShapes) or MxNxK with optional :tA and :tB
// suffixes for transposed operands, e.g. "square1024,12800x16x150:tB".
func ParseShapes(list string) ([]Shape, error) {
	var shapes []Shape
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if i := slices.IndexFunc(DefaultShapes(), func(s Shape) bool { return s.Name == item }); i >= 0 {
			shapes = append(shapes, DefaultShapes()[i])
			continue
		}
		s, err := parseShape(item)
		if err != nil {
			return nil, err
		}
		shapes = append(shapes, s)
	}
	if len(shapes) == 0 {
		return nil, fmt.Errorf("no shapes in %q: give names such as square1024 or sizes such as 1024x1024x1024", list)
	}
	return shapes, nil
}

func parseShape(item string) (Shape, error) {
	parts := strings.Split(item, ":")
	s := Shape{Name: item}
	dims := strings.Split(parts[0], "x")
	if len(dims) != 3 {
		return s, fmt.Errorf("shape %q: want a default shape name or MxNxK[:tA][:tB]", item)
	}
	var sizes [3]int
	for i, d := range dims {
		v, err := strconv.Atoi(d)
		if err != nil || v <= 0 {
			return s, fmt.Errorf("shape %q: size %q is not a positive integer", item, d)
		}
		sizes[i] = v
	}
	s.M, s.N, s.K = sizes[0], sizes[1], sizes[2]
	for _, flag := range parts[1:] {
		switch flag {
		case "tA":
			s.TransA = true
		case "tB":
			s.TransB = true
		default:
			return s, fmt.Errorf("shape %q: unknown suffix %q (valid: tA, tB)", item, flag)
		}
	}
	return s, nil
}

// Result is the median speed of one implementation on one shape; its JSON
// form is what `mirage bench gemm --json` prints.
type Result struct {
	Impl   string  `json:"impl"`
	M      int     `json:"m"`
	N      int     `json:"n"`
	K      int     `json:"k"`
	GFLOPS float64 `json:"gflops"`
	Shape  Shape   `json:"-"`
}

// Options control a GEMM measurement.
type Options struct {
	// Reps is the number of timed repetitions per implementation and shape;
	// the median is reported.
	Reps int
	// MinRepTime is the least time one repetition runs: short products are
	// repeated within a repetition until it is reached.
	MinRepTime time.Duration
}

// MeasureGEMM times every implementation on every shape and returns one
// Result per pair, in shape-major order.
func MeasureGEMM(impls []Impl, shapes []Shape, opt Options) ([]Result, error) {
	if opt.Reps < 1 {
		return nil, fmt.Errorf("reps is %d: need at least 1 repetition", opt.Reps)
	}
	if len(impls) == 0 {
		return nil, fmt.Errorf("no GEMM implementation to measure")
	}
	var results []Result
	for _, s := range shapes {
		results = append(results, measureShape(impls, s, opt)...)
	}
	return results, nil
}

func measureShape(impls []Impl, s Shape, opt Options) []Result {
	rng := rand.New(rand.NewPCG(uint64(s.M), uint64(s.N*s.K)))
	lda, ldb := s.K, s.N
	if s.TransA {
		lda = s.M
	}
	if s.TransB {
		ldb = s.K
	}
	a := randomSlice(rng, s.M*s.K)
	b := randomSlice(rng, s.K*s.N)
	c := make([]float32, s.M*s.N)
	call := func(f SgemmFunc) { f(s.TransA, s.TransB, s.M, s.N, s.K, 1, a, lda, b, ldb, 0, c, s.N) }

	// Calibrate: calls per repetition so that one repetition of the
	// slowest implementation lasts at least MinRepTime. The first call of
	// each also warms caches, pools and OpenBLAS's threads.
	calls := make([]int, len(impls))
	for i, impl := range impls {
		call(impl.Sgemm)
		start := time.Now()
		call(impl.Sgemm)
		one := max(time.Since(start), time.Microsecond)
		calls[i] = max(1, int(opt.MinRepTime/one))
		time.Sleep(impl.Settle)
	}
	flops := 2 * float64(s.M) * float64(s.N) * float64(s.K)
	samples := make([][]float64, len(impls))
	for range opt.Reps {
		for i, impl := range impls {
			// One untimed call first: each implementation starts its
			// repetition warm, after the previous one's pause (a
			// repetition of one or two calls would otherwise time the
			// wake-up of its threads and the refill of its caches).
			call(impl.Sgemm)
			start := time.Now()
			for range calls[i] {
				call(impl.Sgemm)
			}
			samples[i] = append(samples[i], flops*float64(calls[i])/time.Since(start).Seconds()/1e9)
			time.Sleep(impl.Settle)
		}
	}
	results := make([]Result, len(impls))
	for i, impl := range impls {
		results[i] = Result{Impl: impl.Name, M: s.M, N: s.N, K: s.K, GFLOPS: Median(samples[i]), Shape: s}
	}
	return results
}

// LoadAverage returns the system's 1, 5 and 15 minute load averages as the
// OS reports them (Linux's /proc/loadavg), or "" where it cannot be read.
// Benchmarks print it: on a shared machine it says how far the figures
// are below what the hardware can do.
func LoadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return ""
	}
	return strings.Join(fields[:3], " ")
}

// Median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func randomSlice(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	return x
}
