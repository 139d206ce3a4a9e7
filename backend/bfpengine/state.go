package bfpengine

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/mirage-go/mirage/backend"
)

// engineState is the JSON form of an Engine's mutable state: the position
// of the stochastic-rounding generator and the statistics so far.
type engineState struct {
	Rounding []byte       `json:"rounding_rng"`
	Stats    []statsState `json:"stats"`
	Shapes   []shapeState `json:"shapes,omitempty"` // see shapes.go
}

// statsState is one layer and role's Counters. The floating-point sums are
// stored as their IEEE-754 bits: they must come back exactly (the mean of a
// resumed run is computed from the same sum), and a relative error may be
// infinite, which JSON numbers cannot hold.
type statsState struct {
	Layer         string `json:"layer"`
	Role          string `json:"role"`
	Calls         int64  `json:"calls"`
	FP32          bool   `json:"fp32,omitempty"`
	TileOutputs   int64  `json:"tile_outputs"`
	Readouts      int64  `json:"readouts"`
	ResidueErrors int64  `json:"residue_errors"`
	TilesHit      int64  `json:"tiles_hit"`
	Detected      int64  `json:"detected"`
	Corrected     int64  `json:"corrected"`
	Miscorrected  int64  `json:"miscorrected"`
	Erased        int64  `json:"erased"`
	Undetected    int64  `json:"undetected"`
	ADCClipped    int64  `json:"adc_clipped"`
	NonFinite     int64  `json:"nonfinite"`
	Samples       int64  `json:"samples"`
	RelErrSum     uint64 `json:"rel_err_sum_bits"`
	RelErrMax     uint64 `json:"rel_err_max_bits"`
}

// MarshalState encodes the engine's state (see backend.Stateful).
func (e *Engine) MarshalState() ([]byte, error) {
	rounding, err := e.quant.Generator().MarshalBinary()
	if err != nil {
		return nil, err
	}
	st := engineState{Rounding: rounding, Stats: []statsState{}}
	e.Stats.mu.Lock()
	for call, c := range e.Stats.per {
		st.Stats = append(st.Stats, statsState{
			Layer: call.Layer, Role: call.Role.String(), Calls: c.Calls, FP32: c.FP32,
			TileOutputs: c.TileOutputs, Readouts: c.Readouts, ResidueErrors: c.ResidueErrors,
			TilesHit: c.TilesHit, Detected: c.Detected, Corrected: c.Corrected,
			Miscorrected: c.Miscorrected, Erased: c.Erased, Undetected: c.Undetected,
			ADCClipped: c.ADCClipped, NonFinite: c.NonFinite, Samples: c.Samples,
			RelErrSum: math.Float64bits(c.relErrSum), RelErrMax: math.Float64bits(c.RelErrMax),
		})
	}
	st.Shapes = e.Stats.shapeStates()
	e.Stats.mu.Unlock()
	return json.Marshal(st)
}

// UnmarshalState restores a state written by MarshalState, checking it
// whole first: on error the engine is unchanged.
func (e *Engine) UnmarshalState(data []byte) error {
	var st engineState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("engine state: %w", err)
	}
	var rounding rand.PCG
	if err := rounding.UnmarshalBinary(st.Rounding); err != nil {
		return fmt.Errorf("engine state: rounding generator: %w", err)
	}
	per := make(map[backend.Call]*Counters, len(st.Stats))
	for _, s := range st.Stats {
		role, err := backend.ParseRole(s.Role)
		if err != nil {
			return fmt.Errorf("engine state: %w", err)
		}
		call := backend.Call{Layer: s.Layer, Role: role}
		if per[call] != nil {
			return fmt.Errorf("engine state: %s appears twice", call)
		}
		counts := []int64{s.Calls, s.TileOutputs, s.Readouts, s.ResidueErrors, s.TilesHit, s.Detected,
			s.Corrected, s.Miscorrected, s.Erased, s.Undetected, s.ADCClipped, s.NonFinite, s.Samples}
		for _, n := range counts {
			if n < 0 {
				return fmt.Errorf("engine state: %s has a negative count %d", call, n)
			}
		}
		sum, mx := math.Float64frombits(s.RelErrSum), math.Float64frombits(s.RelErrMax)
		if math.IsNaN(sum) || sum < 0 || math.IsNaN(mx) || mx < 0 {
			return fmt.Errorf("engine state: %s has an invalid relative-error sum %g or maximum %g", call, sum, mx)
		}
		c := &Counters{
			Calls: s.Calls, FP32: s.FP32, TileOutputs: s.TileOutputs, Readouts: s.Readouts,
			ResidueErrors: s.ResidueErrors, TilesHit: s.TilesHit, Detected: s.Detected,
			Corrected: s.Corrected, Miscorrected: s.Miscorrected, Erased: s.Erased,
			Undetected: s.Undetected, ADCClipped: s.ADCClipped, NonFinite: s.NonFinite,
			Samples: s.Samples, RelErrMax: mx, relErrSum: sum,
		}
		if c.Samples > 0 {
			c.RelErrMean = c.relErrSum / float64(c.Samples)
		}
		per[call] = c
	}
	shapes, err := parseShapeStates(st.Shapes)
	if err != nil {
		return fmt.Errorf("engine state: %w", err)
	}
	*e.quant.Generator() = rounding
	e.Stats.mu.Lock()
	e.Stats.per = per
	e.Stats.shapes = shapes
	e.Stats.mu.Unlock()
	return nil
}

// NoisyState is the state of a backend built on an Engine that draws its
// own noise (rns, analog): the noise generator and the engine's state.
// It is exported for those backends; they encode it as JSON.
type NoisyState struct {
	Noise  []byte          `json:"noise_rng"`
	Engine json.RawMessage `json:"engine"`
}

// MarshalNoisyState encodes noise's position and e's state.
func MarshalNoisyState(noise *rand.PCG, e *Engine) ([]byte, error) {
	n, err := noise.MarshalBinary()
	if err != nil {
		return nil, err
	}
	eng, err := e.MarshalState()
	if err != nil {
		return nil, err
	}
	return json.Marshal(NoisyState{Noise: n, Engine: eng})
}

// UnmarshalNoisyState restores what MarshalNoisyState wrote; on error
// neither noise nor e is changed.
func UnmarshalNoisyState(data []byte, noise *rand.PCG, e *Engine) error {
	var st NoisyState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("backend state: %w", err)
	}
	var n rand.PCG
	if err := n.UnmarshalBinary(st.Noise); err != nil {
		return fmt.Errorf("backend state: noise generator: %w", err)
	}
	if err := e.UnmarshalState(st.Engine); err != nil {
		return err
	}
	*noise = n
	return nil
}
