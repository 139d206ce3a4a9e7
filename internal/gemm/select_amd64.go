//go:build !purego

package gemm

import "golang.org/x/sys/cpu"

// The assembly kernels, as kernel sets. See asm/gen.go for the choice of
// tile shapes.
var (
	avx512Set = kernelSet{
		name: "avx512",
		specs: []kernelSpec{
			{name: "avx512-12x32", mr: 12, nr: 32, fn: kernelAVX512x12x32, packed: kernelAVX512x12x32p, maskedB: true, indexed: kernelAVX512x12x32i, prefetching: kernelAVX512x12x32r, prefetchingB: kernelAVX512x12x32b, vecPack: true},
			{name: "avx512-24x16", mr: 24, nr: 16, fn: kernelAVX512x24x16, packed: kernelAVX512x24x16p, maskedB: true, prefetching: kernelAVX512x24x16r, vecPack: true},
			{name: "avx512-8x32", mr: 8, nr: 32, fn: kernelAVX512x8x32, packed: kernelAVX512x8x32p, maskedB: true, indexed: kernelAVX512x8x32i, prefetching: kernelAVX512x8x32r, prefetchingB: kernelAVX512x8x32b, vecPack: true},
		},
		rounded: kernelAVX512x8x32q, roundedMR: 8, roundedNR: 32,
	}
	avx2Set = kernelSet{
		name:    "avx2",
		specs:   []kernelSpec{{name: "avx2-6x16", mr: 6, nr: 16, fn: kernelAVX2x6x16, packed: kernelAVX2x6x16p, indexed: kernelAVX2x6x16i}},
		rounded: kernelAVX2x6x16q, roundedMR: 6, roundedNR: 16,
	}
)

// detectKernels picks the fastest kernel set this CPU (and OS, which must
// save the wider registers: x/sys/cpu checks that too) supports.
func detectKernels() *kernelSet {
	switch {
	case cpu.X86.HasAVX512F && cpu.X86.HasBMI2:
		return &avx512Set
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return &avx2Set
	}
	return &portable
}

// availableKernels lists every kernel set usable on this CPU, for tests.
func availableKernels() []*kernelSet {
	sets := []*kernelSet{&portable}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		sets = append(sets, &avx2Set)
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasBMI2 {
		sets = append(sets, &avx512Set)
	}
	return sets
}
