package parallel

import "syscall"

// OSYield offers the thread's processor to another runnable thread, if
// any, and returns at once otherwise. Spinning goroutines (a Team's
// helpers, gemm's) call it so that a thread sharing their processor
// (another helper or the caller of a Run, when the machine is busy) is not
// starved for a scheduler time slice.
func OSYield() {
	syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}
