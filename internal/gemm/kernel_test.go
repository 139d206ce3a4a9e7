package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPackedKernelsMatchGeneral calls each kernel's packed specialisation
// and its general form on the same packed panels, for reduction lengths
// around the unrolling (4) and for full and edge tiles, with and without
// reading C: the two must write bit-identical tiles and nothing else.
func TestPackedKernelsMatchGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, set := range availableKernels() {
		for _, spec := range set.specs {
			if spec.packed == nil {
				continue
			}
			mr, nr := spec.mr, spec.nr
			for _, kc := range []int{1, 2, 3, 4, 5, 7, 8, 9, 33} {
				for _, edge := range [][2]int{{mr, nr}, {1, 1}, {mr - 1, nr - 3}, {mr, 5}} {
					for _, beta := range []float32{0, 0.75} {
						name := fmt.Sprintf("%s/kc%d/rows%d_cols%d/beta%g", spec.name, kc, edge[0], edge[1], beta)
						a := randomMatrix(rng, kc, mr)
						b := randomMatrix(rng, kc, nr)
						c0 := tileC(rng, mr, edge, beta)
						want := append([]float32(nil), c0...)
						got := append([]float32(nil), c0...)
						spec.fn(kc, &a[0], 1, mr, &b[0], nr, &want[0], tileLdc, edge[0], edge[1], 1.5, beta)
						spec.packed(kc, &a[0], 1, mr, &b[0], nr, &got[0], tileLdc, edge[0], edge[1], 1.5, beta)
						requireSameTile(t, name, c0, want, got, edge)
					}
				}
			}
		}
	}
}

// TestPrefetchingKernelsMatchGeneral calls each prefetching kernel (of A's
// next rows or of B's next lines) and the general kernel of its shape on
// the same A, read in place from row-major storage with a row stride
// larger than kc, and B in place with a row stride larger than the tile,
// for reduction lengths around the unrolling (16) and for full and edge
// tiles, with and without reading C, and prefetch distances inside and far
// outside the operands: the two must write bit-identical tiles and nothing
// else. Random operands make a dropped, repeated or swapped element (of A,
// B or C) show as a different sum.
func TestPrefetchingKernelsMatchGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, set := range availableKernels() {
		for _, spec := range set.specs {
			for _, pfk := range []struct {
				name string
				fn   prefetchKernelFunc
			}{{"A", spec.prefetching}, {"B", spec.prefetchingB}} {
				if pfk.fn == nil {
					continue
				}
				testPrefetchingKernel(t, rng, spec, pfk.name, pfk.fn)
			}
		}
	}
}

func testPrefetchingKernel(t *testing.T, rng *rand.Rand, spec kernelSpec, which string, prefetching prefetchKernelFunc) {
	mr, nr := spec.mr, spec.nr
	for _, kc := range []int{1, 3, 4, 15, 16, 17, 31, 33, 48, 150} {
		lda := kc + 5
		for _, edge := range [][2]int{{mr, nr}, {1, 1}, {mr - 1, nr - 3}, {mr, 5}} {
			for _, beta := range []float32{0, 0.75} {
				for _, pf := range []int{0, mr * lda, 1 << 40} {
					name := fmt.Sprintf("%s/%s/kc%d/rows%d_cols%d/beta%g/pf%d", spec.name, which, kc, edge[0], edge[1], beta, pf)
					a := randomMatrix(rng, 2*mr, lda)
					const ldb = 37 // B in place, rows wider than the tile
					b := randomMatrix(rng, kc, ldb)
					c0 := tileC(rng, mr, edge, beta)
					want := append([]float32(nil), c0...)
					got := append([]float32(nil), c0...)
					spec.fn(kc, &a[2], lda, 1, &b[1], ldb, &want[0], tileLdc, edge[0], edge[1], 1.5, beta)
					prefetching(kc, &a[2], lda, 1, &b[1], ldb, &got[0], tileLdc, edge[0], edge[1], 1.5, beta, pf)
					requireSameTile(t, name, c0, want, got, edge)
				}
			}
		}
	}
}

// TestIndexedKernelsMatchGeneral calls each indexed kernel, reading B's
// rows through a table of arbitrary offsets into one buffer (unaligned,
// overlapping, repeated), and the general kernel of its shape on the same
// rows copied out densely, for reduction lengths around the unrolling (4)
// and for full and edge tiles (the two copies of the loop: plain and
// masked loads of B), with and without reading C: the two must write
// bit-identical tiles and nothing else.
func TestIndexedKernelsMatchGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for _, set := range availableKernels() {
		for _, spec := range set.specs {
			if spec.indexed == nil {
				continue
			}
			mr, nr := spec.mr, spec.nr
			for _, kc := range []int{1, 2, 3, 4, 5, 7, 8, 9, 33, 150} {
				lda := kc + 3
				for _, edge := range [][2]int{{mr, nr}, {1, 1}, {mr - 1, nr - 3}, {mr, 5}, {3, nr}} {
					for _, beta := range []float32{0, 0.75} {
						name := fmt.Sprintf("%s/kc%d/rows%d_cols%d/beta%g", spec.name, kc, edge[0], edge[1], beta)
						a := randomMatrix(rng, mr, lda)
						src := randomMatrix(rng, 1, 7*kc+nr)
						offsets := make([]int, kc)
						dense := make([]float32, kc*nr)
						for p := range offsets {
							offsets[p] = rng.IntN(7*kc + 1)
							copy(dense[p*nr:(p+1)*nr], src[offsets[p]:])
						}
						c0 := tileC(rng, mr, edge, beta)
						want := append([]float32(nil), c0...)
						got := append([]float32(nil), c0...)
						spec.fn(kc, &a[1], lda, 1, &dense[0], nr, &want[0], tileLdc, edge[0], edge[1], 1.5, beta)
						spec.indexed(kc, &a[1], lda, 1, &src[0], &offsets[0], &got[0], tileLdc, edge[0], edge[1], 1.5, beta)
						requireSameTile(t, name, c0, want, got, edge)
					}
				}
			}
		}
	}
}

// tileLdc is the row stride of the C of the kernel tests: wider than any
// tile, so that the gap after a tile must stay untouched.
const tileLdc = 40

// tileC returns a random C of mr rows for a tile of edge rows and columns.
// With beta 0 the tile's columns hold NaN, which a kernel must overwrite
// without reading.
func tileC(rng *rand.Rand, mr int, edge [2]int, beta float32) []float32 {
	c := randomMatrix(rng, mr, tileLdc)
	if beta == 0 {
		for i := range c {
			if i%tileLdc < edge[1] {
				c[i] = float32(math.NaN())
			}
		}
	}
	return c
}

// requireSameTile checks that a kernel wrote got exactly as the reference
// kernel wrote want, from the same C c0: inside the tile a value (no NaN
// left), outside it nothing.
func requireSameTile(t *testing.T, name string, c0, want, got []float32, edge [2]int) {
	t.Helper()
	// As text, so that the NaNs left outside the tile compare equal.
	require.Equal(t, fmt.Sprint(want), fmt.Sprint(got), name)
	for i, v := range got {
		if i/tileLdc >= edge[0] || i%tileLdc >= edge[1] {
			require.Equal(t, math.Float32bits(c0[i]), math.Float32bits(v), "%s: element %d outside the tile was written", name, i)
		} else {
			require.False(t, math.IsNaN(float64(v)), "%s: element %d not written", name, i)
		}
	}
}
