//go:build !linux

package parallel

import "runtime"

// OSYield stands in for Linux's sched_yield: it yields the processor to
// other goroutines only.
func OSYield() { runtime.Gosched() }
