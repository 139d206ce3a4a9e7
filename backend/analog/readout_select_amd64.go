//go:build !purego

package analog

import "golang.org/x/sys/cpu"

// readoutLanes selects the widest readout kernel the CPU runs
// (readout_amd64.s): 8 for readRowAVX512, 4 for readRowAVX2. It is set
// once at start-up from the CPU's features and never changes.
var readoutLanes = func() int {
	x := cpu.X86
	switch {
	case !x.HasBMI1 || !x.HasBMI2 || !x.HasPOPCNT || !x.HasAVX2:
		return 0
	case x.HasAVX512F && x.HasAVX512DQ && x.HasAVX512VL && x.HasAVX512BW:
		return 8
	}
	return 4
}()
