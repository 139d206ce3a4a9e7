//go:build !amd64 || purego

package gemm

import "unsafe"

// detectKernels returns the portable Go kernels: there are no assembly
// kernels for this architecture (or the purego tag asked for none).
func detectKernels() *kernelSet { return &portable }

// availableKernels lists every kernel set usable here, for tests.
func availableKernels() []*kernelSet { return []*kernelSet{&portable} }

// prefetchRows is a no-op without assembly.
func prefetchRows(p *float32, ld, rows, n int) {}

// packStrips is packStripsGo: without assembly no kernel set has vecPack,
// so this only keeps the package building.
func packStrips(dst, src *float32, ld, rows, w, panels, pstride int) {
	if rows == 0 || panels == 0 {
		return
	}
	packStripsGo(unsafe.Slice(dst, (panels-1)*pstride+rows*w), unsafe.Slice(src, (rows-1)*ld+panels*w), ld, rows, w, panels, pstride)
}
