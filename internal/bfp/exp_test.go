package bfp

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/mirage-go/mirage/internal/gemm"
)

func BenchmarkExp(b *testing.B) {
	for _, sh := range []struct{ rows, k, n int }{{12800, 150, 16}, {8192, 576, 64}} {
		rows, k, n := sh.rows, sh.k, sh.n
		rng := rand.New(rand.NewPCG(1, 1))
		src := make([]float32, rows*k)
		for i := range src {
			src[i] = float32(rng.NormFloat64())
		}
		w := make([]float32, n*k)
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		c := make([]float32, rows*n)
		f := Format{Bits: 6, Tile: 128}
		q := NewQuantiser(f, 1)
		var m, wq Matrix
		q.Quantise(&wq, w, k, n, k, false)
		var scratch []float32
		pre := fmt.Sprintf("%d/", n)
		b.Run(pre+"fp32", func(b *testing.B) {
			for b.Loop() {
				gemm.Sgemm(false, true, rows, n, k, 1, src, k, w, k, 0, c, n)
			}
		})
		b.Run(pre+"Qonly", func(b *testing.B) {
			for b.Loop() {
				q.Quantise(&m, src, k, rows, k, false)
			}
		})
		b.Run(pre+"V1", func(b *testing.B) {
			for b.Loop() {
				q.Quantise(&m, src, k, rows, k, false)
				scratch = Product(&m, &wq, c, n, false, scratch)
			}
		})
		b.Run(pre+"V2beta1", func(b *testing.B) {
			for b.Loop() {
				q.Quantise(&m, src, k, rows, k, false)
				for t := range m.Tiles() {
					k0, k1 := t*128, min(t*128+128, k)
					beta := float32(1)
					if t == 0 {
						beta = 0
					}
					gemm.Sgemm(false, true, rows, n, k1-k0, 1, m.Values[k0:], k, wq.Values[k0:], k, beta, c, n)
				}
			}
		})
		beta1 := func(m, wq *Matrix, c []float32) {
			for t := range m.Tiles() {
				k0, k1 := t*128, min(t*128+128, k)
				beta := float32(1)
				if t == 0 {
					beta = 0
				}
				gemm.Sgemm(false, true, m.Rows, n, k1-k0, 1, m.Values[k0:], k, wq.Values[k0:], k, beta, c, n)
			}
		}
		for _, chunk := range []int{256, 512, 1024, 2048} {
			qs := []*Quantiser{NewQuantiser(f, 1), NewQuantiser(f, 2)}
			ms := make([]Matrix, 2)
			run := func(part, parts int) {
				lo, hi := rows*part/parts, rows*(part+1)/parts
				for r0 := lo; r0 < hi; r0 += chunk {
					r := min(chunk, hi-r0)
					qs[part].Quantise(&ms[part], src[r0*k:], k, r, k, false)
					beta1(&ms[part], &wq, c[r0*n:])
				}
			}
			b.Run(pre+"V5serialbeta1/"+fmt.Sprint(chunk), func(b *testing.B) {
				for b.Loop() {
					run(0, 1)
				}
			})
			b.Run(pre+"V6par2beta1/"+fmt.Sprint(chunk), func(b *testing.B) {
				for b.Loop() {
					var wg sync.WaitGroup
					wg.Add(1)
					go func() { defer wg.Done(); run(1, 2) }()
					run(0, 2)
					wg.Wait()
				}
			})
		}
		q.Quantise(&m, src, k, rows, k, false)
		b.Run(pre+"SgemmOnQ", func(b *testing.B) {
			for b.Loop() {
				gemm.Sgemm(false, true, rows, n, k, 1, m.Values, k, wq.Values, k, 0, c, n)
			}
		})
		b.Run(pre+"SgemmOnQTiles", func(b *testing.B) {
			for b.Loop() {
				beta1(&m, &wq, c)
			}
		})
		b.Run(pre+"V7fullK", func(b *testing.B) {
			for b.Loop() {
				q.Quantise(&m, src, k, rows, k, false)
				gemm.Sgemm(false, true, rows, n, k, 1, m.Values, k, wq.Values, k, 0, c, n)
			}
		})
		for _, chunk := range []int{128, 512, 2048} {
			qs := []*Quantiser{NewQuantiser(f, 1), NewQuantiser(f, 2)}
			ms := make([]Matrix, 2)
			scr := make([][]float32, 2)
			run := func(part, parts int) {
				lo, hi := rows*part/parts, rows*(part+1)/parts
				for r0 := lo; r0 < hi; r0 += chunk {
					r := min(chunk, hi-r0)
					qs[part].Quantise(&ms[part], src[r0*k:], k, r, k, false)
					scr[part] = Product(&ms[part], &wq, c[r0*n:], n, false, scr[part])
				}
			}
			b.Run(pre+"V3serial/"+fmt.Sprint(chunk), func(b *testing.B) {
				for b.Loop() {
					run(0, 1)
				}
			})
			b.Run(pre+"V4par2/"+fmt.Sprint(chunk), func(b *testing.B) {
				for b.Loop() {
					var wg sync.WaitGroup
					wg.Add(1)
					go func() { defer wg.Done(); run(1, 2) }()
					run(0, 2)
					wg.Wait()
				}
			})
		}
	}
}
