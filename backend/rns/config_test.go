package rns

import (
	"flag"
	"io"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
)

func TestDefaultConfig(t *testing.T) {
	cfg := DefaultConfig()
	require.NoError(t, cfg.Validate())
	require.Equal(t, Config{
		Settings:  bfpengine.Settings{Format: ibfp.Format{Bits: 7, Tile: 128, Rounding: ibfp.Nearest}, NoiseSeed: 1, StatsEvery: 50},
		Preset:    "k7-rrns2",
		Noise:     bfpengine.Noise{Sigma: 0.08, Roles: bfpengine.RoleSet{true, true, true}},
		Moduli:    Moduli{127, 128, 129},
		Redundant: Redundant{Count: 2},
	}, cfg)
	want := map[string]string{
		"bfp-bits": "7", "tile": "128", "rounding": "nearest", "fp32-layers": "", "noise-seed": "1",
		"stats-every": "50", "tile-accumulation": "gemm", "noise-sigma": "0.08", "noise-roles": "forward,dX,dW",
		"rns-moduli": "special-k7", "rrns-redundant": "2", "rns-preset": "k7-rrns2", "rns-mode": "fast", "noise-unit": "step",
	}
	specs := Options()
	require.Len(t, specs, len(want))
	for _, o := range specs {
		require.Equal(t, want[o.Name], o.Default, o.Name)
		require.NotEmpty(t, o.Help, o.Name)
	}
}

// Each flag, given on a FlagSet the config bound, sets its own field and
// nothing else.
func TestConfigFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want func(*Config)
	}{
		{[]string{"--bfp-bits", "5"}, func(c *Config) { c.Format.Bits = 5 }},
		{[]string{"--tile", " 64 "}, func(c *Config) { c.Format.Tile = 64 }},
		{[]string{"--rounding", "stochastic"}, func(c *Config) { c.Format.Rounding = ibfp.Stochastic }},
		{[]string{"--fp32-layers", "conv1, fc*,"}, func(c *Config) { c.FP32Layers = []string{"conv1", "fc*"} }},
		{[]string{"--noise-seed", "18446744073709551615"}, func(c *Config) { c.NoiseSeed = math.MaxUint64 }},
		{[]string{"--stats-every", "0"}, func(c *Config) { c.StatsEvery = 0 }},
		{[]string{"--tile-accumulation", "ordered"}, func(c *Config) { c.Ordered = true }},
		{[]string{"--noise-sigma", "0.12"}, func(c *Config) { c.Noise.Sigma = 0.12 }},
		{[]string{"--noise-roles", "none"}, func(c *Config) { c.Noise.Roles = bfpengine.RoleSet{} }},
		{[]string{"--noise-roles", "dW,forward"}, func(c *Config) { c.Noise.Roles = bfpengine.RoleSet{true, false, true} }},
		{[]string{"--rns-moduli", "special-k7"}, func(c *Config) { c.Moduli = Moduli{127, 128, 129} }},
		{[]string{"--rns-moduli", "61,62"}, func(c *Config) { c.Moduli = Moduli{61, 62} }},
		{[]string{"--rrns-redundant", "2"}, func(c *Config) { c.Redundant = Redundant{Count: 2} }},
		{[]string{"--rrns-redundant", "67,"}, func(c *Config) { c.Redundant = Redundant{Moduli: []int64{67}} }},
		{[]string{"--rrns-redundant", "67, 71"}, func(c *Config) { c.Redundant = Redundant{Moduli: []int64{67, 71}} }},
		{[]string{"--rns-mode", "reference"}, func(c *Config) { c.Reference = true }},
		{[]string{"--rns-preset", "k6"}, func(c *Config) {
			c.Preset, c.Moduli, c.Format.Bits, c.Redundant = "k6", Moduli{63, 64, 65}, 6, Redundant{}
		}},
		{[]string{"--noise-unit", "phase"}, func(c *Config) { c.PhaseUnit = true }},
	} {
		got := DefaultConfig()
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		got.BindFlags(fs)
		require.NoError(t, fs.Parse(tc.args), "%v", tc.args)
		want := DefaultConfig()
		tc.want(&want)
		require.Equal(t, want, got, "%v", tc.args)
	}
}

// A config built in Go, without flags, is checked by New with the same
// messages as the flags get, and never panics.
func TestNewValidatesConfig(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Noise.Sigma = math.NaN() }, "invalid --noise-sigma NaN: must be a finite number"},
		{func(c *Config) { c.Noise.Sigma = math.Inf(-1) }, "invalid --noise-sigma -Inf"},
		{func(c *Config) { c.Redundant.Count = 5 }, `--rrns-redundant "5": give a count 0..4 (the most whose moduli product fits with moduli {127,128,129})`},
		{func(c *Config) { c.Redundant.Count = -1 }, `--rrns-redundant "-1": give a count 0..4`},
		{func(c *Config) { c.Moduli = nil }, "--rns-moduli: empty moduli set"},
		{func(c *Config) { c.Moduli, c.Redundant.Count = nil, 2 }, "--rns-moduli: empty moduli set"},
		{func(c *Config) { c.Format.Tile = 0 }, "--tile 0 must be at least 1"},
		{func(c *Config) { c.StatsEvery = -2 }, "--stats-every -2 must be 0 (off) or positive"},
		{func(c *Config) { c.FP32Layers = []string{"["} }, `--fp32-layers: "[" is not a valid pattern`},
		{func(c *Config) { c.Format.Bits = 8 }, "lower --tile to 64 or --bfp-bits to 7"},
	} {
		cfg := DefaultConfig()
		tc.edit(&cfg)
		b, err := New(cfg)
		require.ErrorContains(t, err, tc.want)
		require.Nil(t, b)
		_, err = Descriptor().New(&cfg)
		require.ErrorContains(t, err, tc.want)
	}
	b, err := New(DefaultConfig())
	require.NoError(t, err)
	require.Equal(t, []int64{131, 133}, b.cfg.Redundant, "the defaults' two redundant moduli")
	cfg := DefaultConfig()
	cfg.Moduli, cfg.Format.Bits = Moduli{63, 64, 65}, 6
	b, err = New(cfg)
	require.NoError(t, err)
	require.Equal(t, []int64{67, 71}, b.cfg.Redundant, "a count is resolved against the moduli in effect")
}

// Options decode into the config; the config encodes back into options
// that decode to the same config.
func TestConfigRoundTrip(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Moduli = Moduli{61, 64, 65}
	cfg.Redundant = Redundant{Moduli: []int64{67}}
	cfg.Format = ibfp.Format{Bits: 5, Tile: 64, Rounding: ibfp.Stochastic}
	cfg.Noise = bfpengine.Noise{Sigma: 1.0 / 3, Roles: bfpengine.RoleSet{false, true, false}}
	cfg.FP32Layers = []string{"conv1", "layer4.*"}
	cfg.Reference, cfg.PhaseUnit, cfg.Ordered = true, true, true
	cfg.Preset = "k6"
	require.NoError(t, cfg.Validate())
	opts := backend.EncodeOptions(&cfg)
	require.Equal(t, "61,64,65", opts["rns-moduli"])
	require.Equal(t, "67,", opts["rrns-redundant"])
	require.Equal(t, "dX", opts["noise-roles"])
	back := DefaultConfig()
	require.NoError(t, backend.DecodeOptions(&back, opts, "rns"))
	require.Equal(t, cfg, back)
	require.Equal(t, opts, backend.EncodeOptions(&back))
}

// --rns-preset sets the number system at once; options given beside it
// override it whichever way their names sort against it (bfp-bits before
// rns-preset, rrns-redundant after), and k6 is exactly the configuration
// the defaults replaced.
func TestPreset(t *testing.T) {
	old, err := Factory(backend.Options{"rns-moduli": "special-k6", "bfp-bits": "6", "rrns-redundant": "0"})
	require.NoError(t, err)
	for _, tc := range []struct {
		opts backend.Options
		want func(*EffectiveConfig)
	}{
		{backend.Options{"rns-preset": "k6"}, func(*EffectiveConfig) {}},
		{backend.Options{"rns-preset": " k6 ", "bfp-bits": "5"}, func(c *EffectiveConfig) { c.Bits, c.MaxTileDot = 5, 128*15*15 }},
		{backend.Options{"rns-preset": "k6", "rrns-redundant": "2"}, func(c *EffectiveConfig) {
			c.Redundant = []int64{67, 71}
			c.StepSigma = append(c.StepSigma, 0.08, 0.08)
			c.ErrorProb = append(c.ErrorProb, c.ErrorProb[0], c.ErrorProb[0])
		}},
	} {
		b, err := Factory(tc.opts)
		require.NoError(t, err, "%v", tc.opts)
		want := old.(*Backend).cfg
		want.StepSigma, want.ErrorProb = slices.Clone(want.StepSigma), slices.Clone(want.ErrorProb)
		tc.want(&want)
		require.Equal(t, want, b.(*Backend).cfg, "%v", tc.opts)
	}
	b, err := Factory(backend.Options{"rns-preset": "k7-rrns2"})
	require.NoError(t, err)
	def, err := New(DefaultConfig())
	require.NoError(t, err)
	require.Equal(t, def.cfg, b.(*Backend).cfg, "the default preset is the defaults")

	_, err = Factory(backend.Options{"rns-preset": "k8"})
	require.EqualError(t, err, `--rns-preset "k8": use `+presetList())
	require.Equal(t, []string{"k7-rrns2", "k6"}, PresetNames())
	for _, name := range PresetNames() {
		cfg := DefaultConfig()
		require.NoError(t, cfg.ApplyPreset(name))
		require.NoError(t, cfg.Validate(), "preset %s must be a valid configuration", name)
	}
}
