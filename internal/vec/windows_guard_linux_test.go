//go:build linux

package vec

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// guardedSlice returns n floats that end exactly where a page that can be
// neither read nor written begins, so that a kernel reading or writing
// past the end crashes the test instead of passing unnoticed.
func guardedSlice(t *testing.T, n int) []float32 {
	page := syscall.Getpagesize()
	size := (n*4+page-1)/page*page + page
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Munmap(mem) })
	require.NoError(t, syscall.Mprotect(mem[size-page:], syscall.PROT_NONE))
	return unsafe.Slice((*float32)(unsafe.Pointer(&mem[size-page-n*4])), n)
}

// TestWindowsNoAccessPastBuffers runs Windows of every kernel set with the
// image and the rows each exactly as long as the windows need and ending
// at an inaccessible page: the AVX2 kernel's whole-vector moves, which
// read and write past each row, must leave the windows whose excess would
// leave the buffers to the Go loop (overlapTail). Results as in
// TestWindowsMatchesGo.
func TestWindowsNoAccessPastBuffers(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 43))
	for _, c := range windowCases(rng) {
		imgLen := (c.n-1)*c.step + (c.blocks-1)*c.plane + (c.height-1)*c.ld + c.width
		img := guardedSlice(t, imgLen)
		copy(img, randomBits(rng, imgLen))
		want := make([]float32, c.n*c.blocks*c.height*c.width)
		windowsGo(want, img, c.n, c.step, c.blocks, c.plane, c.height, c.ld, c.width)
		for _, k := range available() {
			got := guardedSlice(t, len(want))
			k.windows(got, img, c.n, c.step, c.blocks, c.plane, c.height, c.ld, c.width)
			sameBits(t, want, got, k.name+" "+c.String())
		}
	}
}
