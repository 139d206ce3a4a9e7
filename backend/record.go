package backend

import "sync"

// Recorder wraps a backend and records every call it forwards, in order.
// Tests use it to prove that no matrix product bypasses the backend.
type Recorder struct {
	Inner Backend

	mu    sync.Mutex
	calls []RecordedCall
}

// RecordedCall is one GEMM seen by a Recorder.
type RecordedCall struct {
	Call
	M, N, K int
}

// Name implements Backend.
func (r *Recorder) Name() string { return "record(" + r.Inner.Name() + ")" }

// MatMul implements Backend.
func (r *Recorder) MatMul(c Call, g GEMM) error {
	r.mu.Lock()
	r.calls = append(r.calls, RecordedCall{Call: c, M: g.M, N: g.N, K: g.K})
	r.mu.Unlock()
	return r.Inner.MatMul(c, g)
}

// Calls returns a copy of the calls recorded so far.
func (r *Recorder) Calls() []RecordedCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]RecordedCall(nil), r.calls...)
}

// Reset forgets the recorded calls.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.calls = r.calls[:0]
	r.mu.Unlock()
}
