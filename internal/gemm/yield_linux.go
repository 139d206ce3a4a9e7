package gemm

import "syscall"

// osYield offers the thread's processor to another runnable thread, if
// any, and returns at once otherwise. Spinning goroutines call it so that
// a thread sharing their processor (another worker of the same product,
// when the machine is busy) is not starved for a scheduler time slice.
func osYield() {
	syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}
