//go:build !purego

package vec

import "golang.org/x/sys/cpu"

// The assembly kernel sets (see asm/gen.go for the measurements behind
// them): both use the AVX2 elementwise kernels and SumAndDot; the AVX-512
// set has its own ShiftedSums, masked SumAndDot and SumAndDotReLUOf.
var (
	avx2Elementwise = asmKernels{
		relu:             reluAVX2,
		addReLU:          addReLUAVX2,
		maskPositive:     maskPositiveAVX2,
		addMaskPositive:  addMaskPositiveAVX2,
		add:              addAVX2,
		transpose8:       transpose8AVX2,
		axpb:             axpbAVX2,
		axpbReLU:         axpbReLUAVX2,
		affine2:          affine2AVX2,
		addAffine2:       addAffine2AVX2,
		affine2Masked:    affine2MaskedAVX2,
		addAffine2Masked: addAffine2MaskedAVX2,
		affine2ReLUOf:    affine2ReLUOfAVX2,
		addAffine2ReLUOf: addAffine2ReLUOfAVX2,
	}
	avx2Set = kernels{name: "avx2", lanes: 8, reduceLanes: 8, asm: withExactWindows(withReductions(avx2Elementwise,
		shiftedSumsAVX2, sumAndDotAVX2, sumAndDotMaskedAVX2, sumAndDotReLUOfAVX2))}
	avx512Set = kernels{name: "avx512", lanes: 8, reduceLanes: 16, asm: withWindows(withReductions(avx2Elementwise,
		shiftedSumsAVX512, sumAndDotAVX2, sumAndDotMaskedAVX512, sumAndDotReLUOfAVX512))}
)

// withReductions returns k with the given reductions.
func withReductions(k asmKernels, shifted func(*float32, int, float32) (float64, float64),
	dot func(*float32, *float32, int) (float64, float64), dotMasked func(*float32, *float32, *float32, int) (float64, float64),
	dotReLUOf func(*float32, *float32, int, float32, float32) (float64, float64)) asmKernels {
	k.shiftedSums, k.sumAndDot, k.sumAndDotMasked, k.sumAndDotReLUOf = shifted, dot, dotMasked, dotReLUOf
	return k
}

// withWindows returns k with the AVX-512 Windows kernel, which moves a
// window row of up to 8 floats under an opmask.
func withWindows(k asmKernels) asmKernels {
	k.windows = windowsAVX512
	return k
}

// withExactWindows returns k with the AVX2 Windows kernel, which moves a
// window row of up to 8 floats with two overlapping moves that cover it
// exactly.
func withExactWindows(k asmKernels) asmKernels {
	k.windowsExact = windowsAVX2
	return k
}

// hasAVX2 and hasAVX512 report whether this CPU, and the OS, which must
// save the wider registers (x/sys/cpu checks that too), support a set. The
// AVX-512 kernels also use AVX2 and FMA instructions on ymm registers,
// and the Windows kernel opmasks on ymm registers (VL) and POPCNT.
func hasAVX2() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }
func hasAVX512() bool {
	return hasAVX2() && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasPOPCNT
}

// detect picks the kernel set for this CPU.
func detect() *kernels {
	switch {
	case hasAVX512():
		return &avx512Set
	case hasAVX2():
		return &avx2Set
	}
	return &portable
}

// available lists every kernel set usable on this CPU, for tests and
// benchmarks.
func available() []*kernels {
	sets := []*kernels{&portable}
	if hasAVX2() {
		sets = append(sets, &avx2Set)
	}
	if hasAVX512() {
		sets = append(sets, &avx512Set)
	}
	return sets
}
