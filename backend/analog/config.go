package analog

import (
	"flag"
	"fmt"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
)

// Config is the configuration of an analog backend: the knobs every BFP
// backend shares (tiles are always added in order, so Ordered is
// ignored), the readout noise in ADC steps, and the converter width.
type Config struct {
	bfpengine.Settings
	Noise bfpengine.Noise
	// ADCBits is the converter resolution over the full tile range
	// (--adc-bits).
	ADCBits int
}

// DefaultConfig returns the defaults: the shared BFP defaults but with
// 6-bit mantissas, σ = 0.08 ADC steps on every role, and a 6-bit converter
// (the width of one modulus of the special-k6 set {63, 64, 65}).
//
// The analog baseline keeps the 6-bit format that was rns's default until
// December 2026 (special-k6 moduli, 6-bit mantissas, tiles of 128): its
// ADC-width sweeps and full-length arms in RESULTS.md were run at it, and
// its ADC reads the full tile range 2·h·(2^(b-1)-1)², which one more
// mantissa bit makes 4x wider. Give --bfp-bits 7 to compare it with rns's
// current format.
func DefaultConfig() Config {
	s := bfpengine.DefaultSettings()
	s.Format.Bits = 6
	return Config{Settings: s, Noise: bfpengine.DefaultNoise(), ADCBits: 6}
}

// Descriptor describes the analog backend to a backend.Registry.
func Descriptor() backend.Descriptor {
	return backend.Descriptor{
		Name:      "analog",
		Help:      "conventional analog core: BFP tiles read by one ADC over the full range, with noise",
		NewConfig: func() backend.Config { c := DefaultConfig(); return &c },
		New:       backend.Constructor(New),
	}
}

// Factory builds an analog backend from its serialised options (flag
// name → text).
func Factory(opts backend.Options) (backend.Backend, error) {
	return Descriptor().Factory(opts)
}

// Options returns the options of the analog backend.
func Options() []backend.OptionSpec {
	return Descriptor().Options()
}

// BindFlags implements backend.Config.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	c.Settings.BindFlags(fs, false)
	c.Noise.BindFlags(fs)
	fs.Var(bfpengine.IntFlag("adc-bits", &c.ADCBits), "adc-bits", "analog: ADC resolution in bits over the full tile range 2·h·(2^(b-1)-1)^2 (6 = the converter width of the special-k6 RNS moduli {63,64,65})")
}

// Validate implements backend.Config.
func (c *Config) Validate() error {
	if err := c.Settings.Validate(); err != nil {
		return err
	}
	if c.ADCBits < 1 || c.ADCBits > MaxADCBits {
		return fmt.Errorf("--adc-bits %d is outside [1, %d]", c.ADCBits, MaxADCBits)
	}
	return c.Noise.Validate()
}

// ADCWidth returns the converter width in bits: the capability by which
// reports recognise an ADC configuration.
func (c *Config) ADCWidth() int { return c.ADCBits }
