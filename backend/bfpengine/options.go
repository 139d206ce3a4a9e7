package bfpengine

import (
	"flag"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/mirage-go/mirage/backend"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
	"github.com/mirage-go/mirage/internal/limits"
	"github.com/mirage-go/mirage/internal/rns"
)

// The knobs shared by the bfp, rns and analog backends have the same flag
// name and help in every backend, so `mirage train --help` shows one flag
// per knob. They are bound here, once. Their defaults are DefaultSettings'
// in bfp and rns; analog keeps narrower mantissas (see its DefaultConfig).
const (
	bitsHelp       = "BFP mantissa width in bits, sign included (mantissas in ±(2^(b-1)-1))"
	tileHelp       = "tile length h along the reduction dimension: one shared exponent per row/column per tile, one analog readout per tile"
	roundingHelp   = "BFP rounding: nearest (ties to even) or stochastic"
	fp32LayersHelp = "comma list of layer names (shell patterns allowed, e.g. conv1,fc3 or layer4.*) kept in exact FP32"
	noiseSeedHelp  = "seed of the backend's random generator (noise, stochastic rounding); runs are deterministic for a given seed"
	tileAccHelp    = "how the exact tile results are summed in FP32: gemm (one FP32 GEMM over all tiles; the kernel orders the additions; fastest) or ordered (tile by tile, bit-identical to --rns-mode reference; slower)"
	statsEveryHelp = "compare every Nth GEMM of each layer and role with an exact FP32 product for the relative-error statistics (0 = never)"
	noiseSigmaHelp = "Gaussian readout noise σ: rns in residue steps (or radians with --noise-unit phase), analog in ADC steps"
	noiseRolesHelp = "GEMM roles whose readouts are noisy: a comma list of forward, dX, dW, or none"
)

// Settings are the knobs every BFP backend shares.
type Settings struct {
	// Format is the number format: --bfp-bits, --tile and --rounding.
	Format ibfp.Format
	// Ordered adds tiles in order, one GEMM per tile (--tile-accumulation
	// ordered), instead of one GEMM over all tiles.
	Ordered bool
	// FP32Layers are the layer names or shell patterns kept in exact FP32
	// (--fp32-layers).
	FP32Layers []string
	// NoiseSeed seeds the backend's random generators (--noise-seed).
	NoiseSeed uint64
	// StatsEvery samples every Nth GEMM of a layer and role for the
	// relative-error statistics; 0 turns sampling off (--stats-every).
	StatsEvery int
}

// DefaultSettings returns the defaults of the Mirage format, shared by the
// bfp and rns backends: 7-bit mantissas, tiles of 128, round to nearest,
// tiles summed by one GEMM, no FP32 layers, noise seed 1, every 50th GEMM
// sampled. Package rns says why 7 bits (6 bits, the format of earlier
// mirage versions, breaks ResNet-20 training at its peak learning rate).
func DefaultSettings() Settings {
	return Settings{Format: ibfp.Format{Bits: 7, Tile: 128, Rounding: ibfp.Nearest}, NoiseSeed: 1, StatsEvery: 50}
}

// BindFlags defines the shared flags on fs, writing into s; with
// tileAccumulation it also defines --tile-accumulation (for backends that
// can sum the exact tile results with one GEMM: bfp, rns; the analog
// backend reads every tile through its ADC and always adds them in order).
func (s *Settings) BindFlags(fs *flag.FlagSet, tileAccumulation bool) {
	fs.Var(&intValue{name: "bfp-bits", p: &s.Format.Bits}, "bfp-bits", bitsHelp)
	fs.Var(&intValue{name: "tile", p: &s.Format.Tile}, "tile", tileHelp)
	fs.Var((*roundingValue)(&s.Format.Rounding), "rounding", roundingHelp)
	fs.Var((*listValue)(&s.FP32Layers), "fp32-layers", fp32LayersHelp)
	fs.Var((*seedValue)(&s.NoiseSeed), "noise-seed", noiseSeedHelp)
	fs.Var(&intValue{name: "stats-every", p: &s.StatsEvery}, "stats-every", statsEveryHelp)
	if tileAccumulation {
		fs.Var((*accumulationValue)(&s.Ordered), "tile-accumulation", tileAccHelp)
	}
}

// Validate checks the settings.
func (s Settings) Validate() error {
	if err := s.Format.Validate(); err != nil {
		return err
	}
	for _, p := range s.FP32Layers {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("--fp32-layers: %q is not a valid pattern: %v", p, err)
		}
	}
	if s.StatsEvery < 0 {
		return fmt.Errorf("--stats-every %d must be 0 (off) or positive", s.StatsEvery)
	}
	return nil
}

// BFPFormat returns the number format: the capability by which reports
// recognise a BFP configuration (every backend whose configuration embeds
// Settings has it).
func (s *Settings) BFPFormat() ibfp.Format { return s.Format }

// SettingsConfig is the JSON form of Settings, embedded in each backend's
// effective configuration in summary.json.
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

// BFPTiles returns the mantissa width and tile length: the capability by
// which a run's cost accounting reads a BFP backend's effective
// configuration (every effective configuration that embeds SettingsConfig
// has it).
func (c SettingsConfig) BFPTiles() (bits, tile int) { return c.Bits, c.Tile }

// Config returns the JSON form of s.
func (s Settings) Config() SettingsConfig {
	return SettingsConfig{
		Bits: s.Format.Bits, Tile: s.Format.Tile, Rounding: s.Format.Rounding.String(),
		TileAcc: (*accumulationValue)(&s.Ordered).String(), MaxTileDot: s.Format.MaxTileDot(),
		FP32Layers: s.FP32Layers, NoiseSeed: s.NoiseSeed, StatsEvery: s.StatsEvery,
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

// MaxNoiseSigma is the largest --noise-sigma accepted, in steps (residue
// steps for rns, ADC steps for analog). Far below it a readout is already
// uniformly random (see rns.MaxStepSigma), so larger values would change
// nothing but the arithmetic's ability to represent them.
const MaxNoiseSigma = rns.MaxStepSigma

// sigmaRange is the range of --noise-sigma: finite (NaN and ±Inf are
// refused), non-negative and at most MaxNoiseSigma.
func sigmaRange() limits.Float {
	return limits.Float{Min: 0, Max: MaxNoiseSigma, Hint: "in steps; far below the limit every readout is already uniformly random"}
}

// Noise is the readout noise of the rns and analog backends.
type Noise struct {
	// Sigma is the standard deviation of the Gaussian readout noise
	// (--noise-sigma): residue steps or radians for rns, ADC steps for
	// analog.
	Sigma float64
	// Roles are the GEMM roles whose readouts are noisy (--noise-roles).
	Roles RoleSet
}

// DefaultNoise returns σ = 0.08 on every role.
func DefaultNoise() Noise { return Noise{Sigma: 0.08, Roles: RoleSet{true, true, true}} }

// BindFlags defines --noise-sigma and --noise-roles on fs, writing into n.
func (n *Noise) BindFlags(fs *flag.FlagSet) {
	fs.Var((*sigmaValue)(&n.Sigma), "noise-sigma", noiseSigmaHelp)
	fs.Var(&n.Roles, "noise-roles", noiseRolesHelp)
}

// Validate checks that σ is finite and in range.
func (n Noise) Validate() error { return sigmaRange().Check("--noise-sigma", n.Sigma) }

// RoleSet says, per role, whether a setting applies. As a flag.Value its
// text is a comma list of roles, or none.
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

// String implements flag.Value: the roles as a comma list, or none.
func (on *RoleSet) String() string {
	if on == nil {
		return ""
	}
	if names := on.Names(); len(names) > 0 {
		return strings.Join(names, ",")
	}
	return "none"
}

// Set implements flag.Value.
func (on *RoleSet) Set(text string) error {
	var set RoleSet
	items := splitList(text)
	if len(items) == 1 && items[0] == "none" {
		*on = set
		return nil
	}
	for _, it := range items {
		r, err := backend.ParseRole(it)
		if err != nil {
			return fmt.Errorf("--noise-roles: %w, or none", err)
		}
		set[r] = true
	}
	*on = set
	return nil
}

// splitList splits a comma list, dropping empty items.
func splitList(text string) []string {
	var out []string
	for _, f := range strings.Split(text, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// intValue is an integer flag; the range is checked by Validate.
type intValue struct {
	name string
	p    *int
}

func (v *intValue) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return strconv.Itoa(*v.p)
}

func (v *intValue) Set(text string) error {
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil {
		return fmt.Errorf("--%s %q is not an integer", v.name, strings.TrimSpace(text))
	}
	*v.p = n
	return nil
}

// IntFlag returns a flag.Value that parses a decimal integer into *p,
// with the shared backends' message for text that is not one (the range
// is Validate's to check).
func IntFlag(name string, p *int) flag.Value { return &intValue{name: name, p: p} }

type roundingValue ibfp.Rounding

func (v *roundingValue) String() string {
	if v == nil {
		return ""
	}
	return ibfp.Rounding(*v).String()
}

func (v *roundingValue) Set(text string) error {
	r, err := ibfp.ParseRounding(strings.TrimSpace(text))
	if err != nil {
		return fmt.Errorf("--rounding: %w", err)
	}
	*v = roundingValue(r)
	return nil
}

type listValue []string

func (v *listValue) String() string {
	if v == nil {
		return ""
	}
	return strings.Join(*v, ",")
}

func (v *listValue) Set(text string) error {
	*v = splitList(text)
	return nil
}

type seedValue uint64

func (v *seedValue) String() string {
	if v == nil {
		return ""
	}
	return strconv.FormatUint(uint64(*v), 10)
}

func (v *seedValue) Set(text string) error {
	text = strings.TrimSpace(text)
	n, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return fmt.Errorf("--noise-seed %q must be a non-negative integer", text)
	}
	*v = seedValue(n)
	return nil
}

// accumulationValue is --tile-accumulation: gemm (false) or ordered (true).
type accumulationValue bool

func (v *accumulationValue) String() string {
	if v != nil && *v {
		return "ordered"
	}
	return "gemm"
}

func (v *accumulationValue) Set(text string) error {
	switch text = strings.TrimSpace(text); text {
	case "gemm", "":
		*v = false
	case "ordered":
		*v = true
	default:
		return fmt.Errorf("--tile-accumulation %q: use gemm or ordered", text)
	}
	return nil
}

// sigmaValue is --noise-sigma, checked against sigmaRange by limits (the
// same checks and messages as limits.FloatFlag, which keeps its own value
// rather than a field of a configuration).
type sigmaValue float64

func (v *sigmaValue) String() string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(float64(*v), 'g', -1, 64)
}

func (v *sigmaValue) Set(text string) error {
	x, err := sigmaRange().Parse("--noise-sigma", text)
	if err != nil {
		return err
	}
	*v = sigmaValue(x)
	return nil
}
