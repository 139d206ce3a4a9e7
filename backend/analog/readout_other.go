//go:build !amd64 || purego

package analog

// Without the assembly kernels every readout runs in Go, with the same
// results.
const readoutLanes = 0

func readRowAVX2(uintptr) int   { panic("unreachable") }
func readRowAVX512(uintptr) int { panic("unreachable") }
func prepareRowAVX2(uintptr)    { panic("unreachable") }
func writeRowAVX2(uintptr) int  { panic("unreachable") }
