package bfp

import (
	"math/rand/v2"
	"testing"

	"github.com/mirage-go/mirage/internal/gemm"
)

// BenchmarkQuantise measures quantisation alone on a LeNet conv2 operand
// (12800 rows of 150) in both layouts and on a narrow column operand, and
// the FP32 GEMM of the conv2 shape with a 16-column weight matrix for
// comparison:
//
//	go test -run XXX -bench . ./internal/bfp
func BenchmarkQuantise(b *testing.B) {
	const rows, k, n = 12800, 150, 16
	rng := rand.New(rand.NewPCG(1, 1))
	src := make([]float32, rows*k)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	w := make([]float32, n*k)
	c := make([]float32, rows*n)
	q := NewQuantiser(Format{Bits: 6, Tile: 128}, 1)
	var m Matrix
	// Both layouts with each rounding; stochastic rounding draws one key
	// per call, then hashes each element, on every goroutine.
	for _, r := range []struct {
		suffix string
		q      *Quantiser
	}{{"", q}, {"-stochastic", NewQuantiser(Format{Bits: 6, Tile: 128, Rounding: Stochastic}, 1)}} {
		for _, layout := range []struct {
			name    string
			ld      int
			strided bool
		}{{"rows", k, false}, {"columns", rows, true}} {
			b.Run(layout.name+r.suffix, func(b *testing.B) {
				for b.Loop() {
					if err := r.q.Quantise(&m, src, layout.ld, rows, k, layout.strided); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	// A LeNet conv1 weight gradient's op(B): 25 columns of 8448 im2col
	// rows (one K block of the engine), where per-row overheads dominate.
	b.Run("columns-25", func(b *testing.B) {
		const cols, kk = 25, 8448
		for b.Loop() {
			if err := q.Quantise(&m, src[:cols*kk], cols, cols, kk, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sgemm", func(b *testing.B) {
		for b.Loop() {
			gemm.Sgemm(false, true, rows, n, k, 1, src, k, w, k, 0, c, n)
		}
	})
	var wq Matrix
	if err := q.Quantise(&wq, w, k, n, k, false); err != nil {
		b.Fatal(err)
	}
	if err := q.Quantise(&m, src, k, rows, k, false); err != nil {
		b.Fatal(err)
	}
	var scratch []float32
	b.Run("product-ordered", func(b *testing.B) {
		for b.Loop() {
			scratch = Product(nil, &m, &wq, c, n, false, true, scratch)
		}
	})
	b.Run("product", func(b *testing.B) {
		for b.Loop() {
			scratch = Product(nil, &m, &wq, c, n, false, false, scratch)
		}
	})
}
