//go:build !linux

package gemm

import "runtime"

// osYield stands in for Linux's sched_yield: it yields the processor to
// other goroutines only.
func osYield() { runtime.Gosched() }
