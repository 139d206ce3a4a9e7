//go:build !unix

package bench

import "time"

// processCPUTime is not available on this platform: CPU figures are 0.
func processCPUTime() time.Duration { return 0 }
