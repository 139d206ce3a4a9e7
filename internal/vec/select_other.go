//go:build !amd64 || purego

package vec

// detect returns the Go loops: there are no assembly kernels for this
// architecture (or the purego tag asked for none).
func detect() *kernels { return &portable }

// available lists every kernel set usable here, for tests.
func available() []*kernels { return []*kernels{&portable} }
