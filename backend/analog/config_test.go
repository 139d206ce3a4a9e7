package analog

import (
	"flag"
	"io"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
)

func TestDefaultConfig(t *testing.T) {
	cfg := DefaultConfig()
	require.NoError(t, cfg.Validate())
	want := bfpengine.DefaultSettings()
	want.Format.Bits = 6 // the 6-bit baseline (DefaultConfig says why)
	require.Equal(t, Config{Settings: want, Noise: bfpengine.DefaultNoise(), ADCBits: 6}, cfg)
	names := map[string]string{}
	for _, o := range Options() {
		names[o.Name] = o.Default
	}
	require.Equal(t, map[string]string{
		"bfp-bits": "6", "tile": "128", "rounding": "nearest", "fp32-layers": "", "noise-seed": "1",
		"stats-every": "50", "noise-sigma": "0.08", "noise-roles": "forward,dX,dW", "adc-bits": "6",
	}, names, "no --tile-accumulation: the ADC reads every tile on its own")
}

func TestConfigFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want func(*Config)
		err  string
	}{
		{args: []string{"--adc-bits", "10"}, want: func(c *Config) { c.ADCBits = 10 }},
		{args: []string{"--noise-sigma", "0"}, want: func(c *Config) { c.Noise.Sigma = 0 }},
		{args: []string{"--noise-roles", "forward"}, want: func(c *Config) { c.Noise.Roles = bfpengine.RoleSet{true, false, false} }},
		{args: []string{"--tile", "32", "--bfp-bits", "8"}, want: func(c *Config) { c.Format.Tile, c.Format.Bits = 32, 8 }},
		{args: []string{"--adc-bits", "ten"}, err: `--adc-bits "ten" is not an integer`},
		{args: []string{"--noise-sigma", "NaN"}, err: "invalid --noise-sigma NaN: must be a finite number"},
		{args: []string{"--tile-accumulation", "ordered"}, err: "flag provided but not defined: -tile-accumulation"},
	} {
		got := DefaultConfig()
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		got.BindFlags(fs)
		err := fs.Parse(tc.args)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err)
			continue
		}
		require.NoError(t, err, "%v", tc.args)
		want := DefaultConfig()
		tc.want(&want)
		require.Equal(t, want, got, "%v", tc.args)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.ADCBits = 25 }, "--adc-bits 25 is outside [1, 24]"},
		{func(c *Config) { c.ADCBits = 0 }, "--adc-bits 0 is outside [1, 24]"},
		{func(c *Config) { c.Noise.Sigma = math.Inf(1) }, "invalid --noise-sigma +Inf: must be a finite number"},
		{func(c *Config) { c.Noise.Sigma = 2e6 }, "invalid --noise-sigma 2e+06: must be in [0, 1e+06]"},
		{func(c *Config) { c.Format.Bits = 13 }, "--bfp-bits 13 is outside [2, 12]"},
	} {
		cfg := DefaultConfig()
		tc.edit(&cfg)
		b, err := New(cfg)
		require.ErrorContains(t, err, tc.want)
		require.Nil(t, b)
	}
}

func TestConfigRoundTrip(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ADCBits, cfg.Noise.Sigma, cfg.NoiseSeed, cfg.FP32Layers = 12, 0.5, 7, []string{"head"}
	opts := backend.EncodeOptions(&cfg)
	back := DefaultConfig()
	require.NoError(t, backend.DecodeOptions(&back, opts, "analog"))
	require.Equal(t, cfg, back)
	require.Equal(t, opts, backend.EncodeOptions(&back))
}
