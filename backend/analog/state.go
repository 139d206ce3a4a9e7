package analog

import "github.com/mirage-go/mirage/backend/bfpengine"

// MarshalState implements backend.Stateful: the ADC-noise generator,
// the stochastic-rounding generator and the statistics.
func (b *Backend) MarshalState() ([]byte, error) { return bfpengine.MarshalNoisyState(b.src, b.engine) }

// UnmarshalState implements backend.Stateful.
func (b *Backend) UnmarshalState(data []byte) error {
	return bfpengine.UnmarshalNoisyState(data, b.src, b.engine)
}
