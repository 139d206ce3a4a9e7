// Package guardpage gives tests buffers that end exactly where an
// inaccessible page begins, so that a kernel reading or writing one
// element past the end crashes the test (SIGSEGV) instead of passing
// unnoticed on whatever memory happened to follow.
//
// Only Linux has it (mmap and mprotect through package syscall); the
// tests that use it carry the linux build constraint.
package guardpage
