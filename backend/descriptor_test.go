package backend

import (
	"errors"
	"flag"
	"testing"

	"github.com/stretchr/testify/require"
)

// knobConfig is a one-knob configuration for the Descriptor helpers.
type knobConfig struct{ Knob int }

func (c *knobConfig) BindFlags(fs *flag.FlagSet) { fs.IntVar(&c.Knob, "knob", c.Knob, "a knob") }
func (c *knobConfig) Validate() error            { return nil }

// knobBackend records the configuration it was built from.
type knobBackend struct{ knob int }

func (*knobBackend) Name() string                { return "knob" }
func (*knobBackend) MatMul(_ Call, g GEMM) error { return nil }
func newKnobBackend(c knobConfig) (*knobBackend, error) {
	if c.Knob < 0 {
		return nil, errors.New("--knob must not be negative")
	}
	return &knobBackend{c.Knob}, nil
}

func knobDescriptor() Descriptor {
	return Descriptor{Name: "knob", NewConfig: func() Config { return &knobConfig{Knob: 2} }, New: Constructor(newKnobBackend)}
}

func TestDescriptorFactoryAndConstructor(t *testing.T) {
	d := knobDescriptor()
	b, err := d.Factory(nil)
	require.NoError(t, err)
	require.Equal(t, 2, b.(*knobBackend).knob, "the defaults")
	b, err = d.Factory(Options{"knob": "5"})
	require.NoError(t, err)
	require.Equal(t, 5, b.(*knobBackend).knob)

	b, err = d.Factory(Options{"knob": "-1"})
	require.EqualError(t, err, "--knob must not be negative")
	require.True(t, b == nil, "a failed constructor gives a nil Backend, not a nil *knobBackend in an interface")

	_, err = d.Factory(Options{"other": "1"})
	require.ErrorContains(t, err, "option --other does not apply to backend knob")

	_, err = d.New(&struct{ knobConfig }{})
	require.ErrorContains(t, err, "want *backend.knobConfig")

	require.Equal(t, []OptionSpec{{Name: "knob", Default: "2", Help: "a knob"}}, d.Options())
}
