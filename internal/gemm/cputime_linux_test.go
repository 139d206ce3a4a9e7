//go:build linux

package gemm

import (
	"syscall"
	"time"
)

// threadCPUTime is the CPU time the calling OS thread has used; with the
// goroutine locked to its thread it measures a kernel's own work, whatever
// else the machine runs.
func threadCPUTime() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
