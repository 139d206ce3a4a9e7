//go:build !linux

package gemm

import "time"

// threadCPUTime is not available here; benchmarks then skip the metric.
func threadCPUTime() time.Duration { return 0 }
