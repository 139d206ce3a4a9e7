//go:build !amd64 || purego

package gemm

// detectKernels returns the portable Go kernels: there are no assembly
// kernels for this architecture (or the purego tag asked for none).
func detectKernels() *kernelSet { return &portable }

// availableKernels lists every kernel set usable here, for tests.
func availableKernels() []*kernelSet { return []*kernelSet{&portable} }

// prefetchRows is a no-op without assembly.
func prefetchRows(p *float32, ld, rows, n int) {}
