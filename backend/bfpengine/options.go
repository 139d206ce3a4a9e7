package bfpengine

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/mirage-go/mirage/backend"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
	"github.com/mirage-go/mirage/internal/limits"
	"github.com/mirage-go/mirage/internal/rns"
)

// Options shared by the bfp, rns and analog backends. They have the same
// name, default and help in every backend, so `mirage train --help` shows
// one flag per knob.
var (
	bitsSpec = backend.OptionSpec{Name: "bfp-bits", Default: "6",
		Help: "BFP mantissa width in bits, sign included (mantissas in ±(2^(b-1)-1))"}
	tileSpec = backend.OptionSpec{Name: "tile", Default: "128",
		Help: "tile length h along the reduction dimension: one shared exponent per row/column per tile, one analog readout per tile"}
	roundingSpec = backend.OptionSpec{Name: "rounding", Default: "nearest",
		Help: "BFP rounding: nearest (ties to even) or stochastic"}
	fp32LayersSpec = backend.OptionSpec{Name: "fp32-layers", Default: "",
		Help: "comma list of layer names (shell patterns allowed, e.g. conv1,fc3 or layer4.*) kept in exact FP32"}
	noiseSeedSpec = backend.OptionSpec{Name: "noise-seed", Default: "1",
		Help: "seed of the backend's random generator (noise, stochastic rounding); runs are deterministic for a given seed"}
	tileAccSpec = backend.OptionSpec{Name: "tile-accumulation", Default: "gemm",
		Help: "how the exact tile results are summed in FP32: gemm (one FP32 GEMM over all tiles; the kernel orders the additions; fastest) or ordered (tile by tile, bit-identical to --rns-mode reference; slower)"}
	statsEverySpec = backend.OptionSpec{Name: "stats-every", Default: "50",
		Help: "compare every Nth GEMM of each layer and role with an exact FP32 product for the relative-error statistics (0 = never)"}
)

// The noise options of the rns and analog backends.
var (
	noiseSigmaSpec = backend.OptionSpec{Name: "noise-sigma", Default: "0.08",
		Help: "Gaussian readout noise σ: rns in residue steps (or radians with --noise-unit phase), analog in ADC steps"}
	noiseRolesSpec = backend.OptionSpec{Name: "noise-roles", Default: "forward,dX,dW",
		Help: "GEMM roles whose readouts are noisy: a comma list of forward, dX, dW, or none"}
)

// NoiseOptions returns --noise-sigma and --noise-roles, shared by the rns
// and analog backends.
func NoiseOptions() []backend.OptionSpec {
	return []backend.OptionSpec{noiseSigmaSpec, noiseRolesSpec}
}

// SharedOptions returns the options every BFP-based backend accepts.
func SharedOptions() []backend.OptionSpec {
	return []backend.OptionSpec{bitsSpec, tileSpec, roundingSpec, fp32LayersSpec, noiseSeedSpec, statsEverySpec}
}

// TileAccumulationOption returns --tile-accumulation, for backends that
// can sum the exact tile results with one GEMM (bfp, rns); the analog
// backend reads every tile through its ADC and always adds them in order.
func TileAccumulationOption() backend.OptionSpec { return tileAccSpec }

// Settings are the parsed shared options.
type Settings struct {
	Format ibfp.Format
	// Ordered adds tiles in order, one GEMM per tile (--tile-accumulation
	// ordered), instead of one GEMM over all tiles.
	Ordered    bool
	FP32Layers []string
	NoiseSeed  uint64
	StatsEvery int
}

// SettingsConfig is the JSON form of Settings, embedded in each backend's
// configuration.
type SettingsConfig struct {
	Bits       int      `json:"bfp_bits"`
	Tile       int      `json:"tile"`
	Rounding   string   `json:"rounding"`
	TileAcc    string   `json:"tile_accumulation"`
	MaxTileDot int64    `json:"max_tile_dot"`
	FP32Layers []string `json:"fp32_layers"`
	NoiseSeed  uint64   `json:"noise_seed"`
	StatsEvery int      `json:"stats_every"`
}

// Config returns the JSON form of s.
func (s Settings) Config() SettingsConfig {
	acc := "gemm"
	if s.Ordered {
		acc = "ordered"
	}
	return SettingsConfig{
		Bits: s.Format.Bits, Tile: s.Format.Tile, Rounding: s.Format.Rounding.String(), TileAcc: acc,
		MaxTileDot: s.Format.MaxTileDot(), FP32Layers: s.FP32Layers,
		NoiseSeed: s.NoiseSeed, StatsEvery: s.StatsEvery,
	}
}

// KeepsFP32 reports whether layer matches one of the --fp32-layers
// patterns.
func (s Settings) KeepsFP32(layer string) bool {
	for _, p := range s.FP32Layers {
		if ok, _ := path.Match(p, layer); ok || p == layer {
			return true
		}
	}
	return false
}

// Value returns the option name from opts, or its default from specs.
func Value(opts backend.Options, specs []backend.OptionSpec, name string) string {
	if v, ok := opts[name]; ok {
		return strings.TrimSpace(v)
	}
	for _, s := range specs {
		if s.Name == name {
			return s.Default
		}
	}
	return ""
}

// Int parses the integer option name.
func Int(opts backend.Options, specs []backend.OptionSpec, name string) (int, error) {
	v := Value(opts, specs, name)
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("--%s %q is not an integer", name, v)
	}
	return n, nil
}

// MaxNoiseSigma is the largest --noise-sigma accepted, in steps (residue
// steps for rns, ADC steps for analog). Far below it a readout is already
// uniformly random (see rns.MaxStepSigma), so larger values would change
// nothing but the arithmetic's ability to represent them.
const MaxNoiseSigma = rns.MaxStepSigma

// Float parses the number option name: finite (NaN and ±Inf are refused),
// non-negative and at most MaxNoiseSigma.
func Float(opts backend.Options, specs []backend.OptionSpec, name string) (float64, error) {
	return limits.Float{Min: 0, Max: MaxNoiseSigma, Hint: "in steps; far below the limit every readout is already uniformly random"}.Parse("--"+name, Value(opts, specs, name))
}

// List splits the comma list option name, dropping empty items.
func List(opts backend.Options, specs []backend.OptionSpec, name string) []string {
	var out []string
	for _, f := range strings.Split(Value(opts, specs, name), ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ParseSettings reads and validates the shared options.
func ParseSettings(opts backend.Options, specs []backend.OptionSpec) (Settings, error) {
	var s Settings
	var err error
	if s.Format.Bits, err = Int(opts, specs, "bfp-bits"); err != nil {
		return s, err
	}
	if s.Format.Tile, err = Int(opts, specs, "tile"); err != nil {
		return s, err
	}
	if s.Format.Rounding, err = ibfp.ParseRounding(Value(opts, specs, "rounding")); err != nil {
		return s, fmt.Errorf("--rounding: %w", err)
	}
	if err := s.Format.Validate(); err != nil {
		return s, err
	}
	switch acc := Value(opts, specs, tileAccSpec.Name); acc {
	case "gemm", "":
	case "ordered":
		s.Ordered = true
	default:
		return s, fmt.Errorf("--tile-accumulation %q: use gemm or ordered", acc)
	}
	s.FP32Layers = List(opts, specs, "fp32-layers")
	for _, p := range s.FP32Layers {
		if _, err := path.Match(p, ""); err != nil {
			return s, fmt.Errorf("--fp32-layers: %q is not a valid pattern: %v", p, err)
		}
	}
	seed := Value(opts, specs, "noise-seed")
	if s.NoiseSeed, err = strconv.ParseUint(seed, 10, 64); err != nil {
		return s, fmt.Errorf("--noise-seed %q must be a non-negative integer", seed)
	}
	if s.StatsEvery, err = Int(opts, specs, "stats-every"); err != nil {
		return s, err
	}
	if s.StatsEvery < 0 {
		return s, fmt.Errorf("--stats-every %d must be 0 (off) or positive", s.StatsEvery)
	}
	return s, nil
}

// ParseRoles reads the --noise-roles option: which roles get noise.
func ParseRoles(opts backend.Options, specs []backend.OptionSpec) (RoleSet, error) {
	var on RoleSet
	items := List(opts, specs, noiseRolesSpec.Name)
	if len(items) == 1 && items[0] == "none" {
		return on, nil
	}
	for _, it := range items {
		r, err := backend.ParseRole(it)
		if err != nil {
			return on, fmt.Errorf("--noise-roles: %w, or none", err)
		}
		on[r] = true
	}
	return on, nil
}

// RoleSet says, per role, whether a setting applies.
type RoleSet [len(backend.Roles)]bool

// Names lists the roles in the set, for configuration output.
func (on RoleSet) Names() []string {
	names := []string{}
	for _, r := range backend.Roles {
		if on[r] {
			names = append(names, r.String())
		}
	}
	return names
}

// CheckKnown refuses options outside specs. The registry already does this
// for the CLI; Go callers of a Factory get the same protection.
func CheckKnown(opts backend.Options, specs []backend.OptionSpec, backendName string) error {
	for k := range opts {
		known := false
		for _, s := range specs {
			known = known || s.Name == k
		}
		if !known {
			names := make([]string, len(specs))
			for i, s := range specs {
				names[i] = "--" + s.Name
			}
			return fmt.Errorf("option --%s does not apply to backend %s (its options: %s)", k, backendName, strings.Join(names, ", "))
		}
	}
	return nil
}
