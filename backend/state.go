package backend

// Stateful is implemented by backends that carry state from one matrix
// product to the next: the position of their random generators (readout
// noise, stochastic rounding) and the statistics accumulated so far. A
// training run saves this state in its checkpoint and restores it when it
// resumes, so that the resumed run draws the same noise and reports the
// same statistics as a run that was never interrupted.
//
// Like io.WriterTo it is an optional capability: the training loop checks
// for it with a type assertion, and a backend without it (fp32) has no state
// beyond its configuration. The configuration itself is not part of the
// state; it is rebuilt from the run's options.
type Stateful interface {
	// MarshalState encodes the backend's mutable state.
	MarshalState() ([]byte, error)
	// UnmarshalState restores a state encoded by MarshalState on a backend
	// built with the same configuration. It validates data completely
	// before changing anything: on error the backend is unchanged.
	UnmarshalState(data []byte) error
}
