package backend

import (
	"fmt"
	"sync"
)

// Recorder wraps a backend and records every call it forwards, in order.
// Tests use it to prove that no matrix product bypasses the backend.
//
// A Recorder is a Convolver: when Inner is one, it records each
// convolution product as one call (Conv set, with the shape of the whole
// im2col GEMM) and forwards it; otherwise it computes the convolution
// through its own MatMul as im2col GEMMs ([Im2col]), which it records one
// by one, exactly what a tape on Inner alone would send to Inner.
type Recorder struct {
	Inner Backend

	mu     sync.Mutex
	calls  []RecordedCall
	im2col Im2col
}

// RecordedCall is one GEMM or convolution product seen by a Recorder.
type RecordedCall struct {
	Call
	M, N, K int
	// Conv is set for a convolution product handed to a Convolver; M, N
	// and K are then those of the whole im2col GEMM (ConvGeometry.GEMM).
	Conv bool
}

func (c RecordedCall) String() string {
	kind := "gemm"
	if c.Conv {
		kind = "conv"
	}
	return fmt.Sprintf("%s %s %dx%dx%d", c.Call, kind, c.M, c.N, c.K)
}

// Name implements Backend.
func (r *Recorder) Name() string { return "record(" + r.Inner.Name() + ")" }

// MatMul implements Backend.
func (r *Recorder) MatMul(c Call, g GEMM) error {
	r.record(RecordedCall{Call: c, M: g.M, N: g.N, K: g.K})
	return r.Inner.MatMul(c, g)
}

func (r *Recorder) record(c RecordedCall) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

func (r *Recorder) recordConv(layer string, role Role, g ConvGeometry) {
	m, n, k := g.GEMM(role)
	r.record(RecordedCall{Call: Call{Layer: layer, Role: role}, M: m, N: n, K: k, Conv: true})
}

// ConvForward implements Convolver.
func (r *Recorder) ConvForward(layer string, g ConvGeometry, x, w, bias, y []float32) error {
	cv, ok := r.Inner.(Convolver)
	if !ok {
		return r.im2col.Forward(r, layer, g, x, w, bias, y)
	}
	r.recordConv(layer, Forward, g)
	return cv.ConvForward(layer, g, x, w, bias, y)
}

// ConvBackward implements Convolver.
func (r *Recorder) ConvBackward(layer string, g ConvGeometry, x, w, dy []float32, grads ConvGrads) error {
	cv, ok := r.Inner.(Convolver)
	if !ok {
		return r.im2col.Backward(r, layer, g, x, w, dy, grads)
	}
	if grads.DX != nil {
		r.recordConv(layer, GradInput, g)
	}
	if grads.DW != nil {
		r.recordConv(layer, GradWeight, g)
	}
	return cv.ConvBackward(layer, g, x, w, dy, grads)
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
