package main

import (
	"bytes"
	"fmt"
	"runtime/pprof"

	"github.com/mirage-go/mirage/internal/atomicfile"
)

// startCPUProfile starts CPU profiling into memory; the returned stop ends
// it and writes the profile to path atomically, so an interrupted run
// leaves no truncated profile behind.
func startCPUProfile(path string) (stop func() error, err error) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		return nil, fmt.Errorf("cannot start the CPU profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := atomicfile.WriteFile(path, buf.Bytes()); err != nil {
			return fmt.Errorf("the CPU profile was not written: %w", err)
		}
		return nil
	}, nil
}
