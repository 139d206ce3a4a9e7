package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// fillSentinel returns n floats of the sentinel value, so that a packing
// routine's writes outside what it should write show.
func fillSentinel(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = sentinel
	}
	return x
}

// vecPackSpec returns a kernel shape that packs with the vector routines
// (packStrips, vec.Transpose8), or skips the test: packStrips is AVX-512
// assembly, which faults (SIGILL) on a CPU without it, and no kernel set of
// such a CPU calls it.
func vecPackSpec(t *testing.T) kernelSpec {
	t.Helper()
	var spec kernelSpec
	for _, set := range availableKernels() {
		for _, s := range set.specs {
			if s.vecPack {
				spec = s
			}
		}
	}
	if !spec.vecPack {
		t.Skip("no vector packing on this CPU (packStrips needs AVX-512, and no kernel set here uses it)")
	}
	return spec
}

// TestPackStripsMatchesGo checks the packing copy (assembly where the CPU
// has it) against packStripsGo for every strip width up to 32 and odd row
// counts, panel counts and strides (rows wider than the panels, panels
// further apart than they are long): same destination, element for
// element, including the gaps it must leave alone. The source holds
// distinct values, so a dropped, repeated or swapped element shows.
func TestPackStripsMatchesGo(t *testing.T) {
	vecPackSpec(t)
	rng := rand.New(rand.NewPCG(31, 32))
	for w := 1; w <= 32; w++ {
		for _, rows := range []int{0, 1, 5, 17} {
			for _, panels := range []int{0, 1, 3} {
				ld := panels*w + rng.IntN(9)
				pstride := rows*w + rng.IntN(5)
				src := make([]float32, max(1, rows*ld+1))
				for i := range src {
					src[i] = float32(i) + 0.5
				}
				want := fillSentinel(max(1, panels*pstride+1))
				got := fillSentinel(len(want))
				packStripsGo(want, src, ld, rows, w, panels, pstride)
				packStrips(&got[0], &src[0], ld, rows, w, panels, pstride)
				require.Equal(t, want, got, "w=%d rows=%d panels=%d ld=%d pstride=%d", w, rows, panels, ld, pstride)
			}
		}
	}
}

// TestPackBlocksVectorMatchesGo packs blocks of A and B of odd sizes, both
// transpositions, with the vector routines and without: the packed blocks
// the kernels read must be identical, padding included.
func TestPackBlocksVectorMatchesGo(t *testing.T) {
	spec := vecPackSpec(t)
	rng := rand.New(rand.NewPCG(35, 36))
	for _, mrnr := range [][2]int{{spec.mr, spec.nr}, {24, 16}, {8, 32}, {12, 32}} {
		for _, tr := range transposeCombos() {
			for _, size := range [][3]int{{1, 1, 1}, {5, 7, 3}, {61, 75, 29}, {100, 33, 40}, {22, 43, 17}} {
				m, n, k := size[0], size[1], size[2]
				ar, ac, br, bc := m, k, k, n
				if tr[0] {
					ar, ac = k, m
				}
				if tr[1] {
					br, bc = n, k
				}
				pr := problem{m: m, n: n, k: k, transA: tr[0], transB: tr[1], lda: ac + 3, ldb: bc + 5}
				pr.a = randomMatrix(rng, ar, pr.lda)
				pr.b = randomMatrix(rng, br, pr.ldb)
				name := fmt.Sprintf("mr%d_nr%d/tA%v_tB%v/%dx%dx%d", mrnr[0], mrnr[1], tr[0], tr[1], m, n, k)
				mr, nr := mrnr[0], mrnr[1]
				pa := (m + mr - 1) / mr
				pb := (n + nr - 1) / nr
				pack := func(vec bool) ([]float32, []float32) {
					p := pr
					p.spec = kernelSpec{mr: mr, nr: nr, vecPack: vec}
					// Skip one row and column of each operand, so that
					// offsets are exercised.
					rows, cols, depth := max(m-1, 1), max(n-1, 1), max(k-1, 1)
					i0, j0, p0 := m-rows, n-cols, k-depth
					da := fillSentinel(pa*depth*mr + 1)
					db := fillSentinel(pb*depth*nr + 1)
					p.packBlockA(da, i0, rows, p0, depth, mr)
					q1 := (cols + nr - 1) / nr
					p.packBlockB(db, j0, cols, p0, depth, 0, q1)
					return da, db
				}
				wa, wb := pack(false)
				ga, gb := pack(true)
				require.Equal(t, wa, ga, "%s: packed A", name)
				require.Equal(t, wb, gb, "%s: packed B", name)
			}
		}
	}
}

// TestCopyShort checks copyShort for every length up to past the longest
// tile width: all of dst written, nothing past it.
func TestCopyShort(t *testing.T) {
	for n := 0; n <= 40; n++ {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(i + 1)
		}
		dst := fillSentinel(n + 4)
		copyShort(dst[:n], src)
		require.Equal(t, src, dst[:n], "length %d", n)
		require.Equal(t, fillSentinel(4), dst[n:], "length %d wrote past its end", n)
	}
}
