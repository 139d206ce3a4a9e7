//go:build !purego

package analog

import "golang.org/x/sys/cpu"

// hasReadoutAVX2 selects readRowAVX2 (readout_amd64.s). It is set once at
// start-up from the CPU's features and never changes.
var hasReadoutAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasBMI2 && cpu.X86.HasPOPCNT
