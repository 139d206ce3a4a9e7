//go:build !amd64 || purego

package bfp

// Without the assembly kernels every loop runs in Go; the results are
// identical (up to the sign of zeros).
const hasAVX2 = false

func maxAbsBitsAVX2([]float32) uint32                { panic("unreachable") }
func roundScaleAVX2(_, _ []float32, _, _, _ float32) { panic("unreachable") }
func maxAbsBitsRowAVX2([]uint32, []float32)          { panic("unreachable") }
func roundMagicRowAVX2(_, _, _ []float32)            { panic("unreachable") }
func roundMagicClampRowAVX2(_, _, _, _ []float32)    { panic("unreachable") }

func quantRowsAVX2(*rowJob) int { return 0 }

func maxAbsBitsColsAVX2([]uint32, []float32, int, int) { panic("unreachable") }
func roundMagicColsAVX2(_ []float32, _ int, _ []float32, _, _ int, _, _ []float32) {
	panic("unreachable")
}

const hasAVX512DQ = false

func stochasticBlockAVX512(_, _ []float32, _, _, _ float64, _ uint64, _ int) { panic("unreachable") }
func stochasticColsAVX512(_, _ []float32, _, _ []float64, _ float64, _ uint64, _ int) {
	panic("unreachable")
}
