package rns

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
	"github.com/mirage-go/mirage/internal/rns"
)

// Config is the configuration of an RNS backend: the knobs every BFP
// backend shares, the readout noise, and the RNS knobs. The zero value is
// not useful; start from DefaultConfig.
type Config struct {
	bfpengine.Settings
	// Preset names the preset (--rns-preset) the number system started
	// from: ApplyPreset sets Moduli, Settings.Format.Bits and Redundant,
	// which may have been changed since.
	Preset string
	Noise  bfpengine.Noise
	// Moduli are the base moduli (--rns-moduli).
	Moduli Moduli
	// Redundant are the redundant moduli for RRNS error detection and
	// correction (--rrns-redundant).
	Redundant Redundant
	// Reference selects the literal per-modulus emulation (--rns-mode
	// reference) instead of the fast one.
	Reference bool
	// PhaseUnit gives Noise.Sigma in radians of phase (--noise-unit phase)
	// instead of residue steps.
	PhaseUnit bool
}

// DefaultConfig returns the defaults, and why they are the defaults is in
// the package documentation: special-k7 moduli, 7-bit mantissas in tiles
// of 128, two redundant moduli, the fast mode, σ = 0.08 residue steps on
// every role.
func DefaultConfig() Config {
	c := Config{Settings: bfpengine.DefaultSettings(), Noise: bfpengine.DefaultNoise()}
	if err := c.ApplyPreset(DefaultPreset); err != nil {
		panic(err) // DefaultPreset is in the list
	}
	return c
}

// Descriptor describes the rns backend to a backend.Registry.
func Descriptor() backend.Descriptor {
	return backend.Descriptor{
		Name:      "rns",
		Help:      "Mirage emulation: BFP + RNS modular GEMMs with photonic phase noise, optional RRNS",
		NewConfig: func() backend.Config { c := DefaultConfig(); return &c },
		New:       backend.Constructor(New),
	}
}

// Factory builds an RNS backend from its serialised options (flag name →
// text), refusing invalid configurations with a message that names the
// option to change.
func Factory(opts backend.Options) (backend.Backend, error) {
	return Descriptor().Factory(opts)
}

// Options returns the options of the rns backend.
func Options() []backend.OptionSpec {
	return Descriptor().Options()
}

// BindFlags implements backend.Config.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	c.Settings.BindFlags(fs, true)
	c.Noise.BindFlags(fs)
	fs.Var(presetValue{c}, "rns-preset", "sets --rns-moduli, --bfp-bits and --rrns-redundant at once: "+presetList()+"; those options, given beside it, override it")
	fs.Var(&c.Moduli, "rns-moduli", "RNS moduli: a comma list of pairwise coprime integers (e.g. 63,64,65) or a preset special-k4 .. special-k8 = {2^k-1, 2^k, 2^k+1}")
	fs.Var(&redundantValue{r: &c.Redundant, base: &c.Moduli}, "rrns-redundant", "redundant RNS moduli for error detection/correction: a count R (the R smallest suitable moduli are chosen, as many as fit the product: 131,133 for 2 with special-k7, 67,71 with special-k6) or an explicit comma list of moduli (67,71; a single one as 67,)")
	fs.Var((*modeValue)(&c.Reference), "rns-mode", "RNS emulation: fast (exact BFP GEMM + sampled residue errors, about FP32 cost) or reference (literal per-modulus phase readouts, slow)")
	fs.Var((*unitValue)(&c.PhaseUnit), "noise-unit", "unit of --noise-sigma for rns: step (residue steps, same for every modulus) or phase (radians)")
}

// Validate implements backend.Config.
func (c *Config) Validate() error {
	_, err := c.resolve()
	return err
}

// resolve validates the configuration and returns its moduli set.
func (c Config) resolve() (*rns.Set, error) {
	if err := c.Settings.Validate(); err != nil {
		return nil, err
	}
	if _, err := rns.NewSet(c.Moduli, nil); err != nil {
		return nil, fmt.Errorf("--rns-moduli: %w", err)
	}
	redundant, err := c.Redundant.moduli(c.Moduli)
	if err != nil {
		return nil, err
	}
	set, err := rns.NewSet(c.Moduli, redundant)
	if err != nil {
		return nil, fmt.Errorf("--rns-moduli/--rrns-redundant: %w", err)
	}
	if err := checkRange(c.Format, set); err != nil {
		return nil, err
	}
	if err := c.Noise.Validate(); err != nil {
		return nil, err
	}
	for _, m := range set.Moduli() {
		step := c.Noise.Sigma
		if c.PhaseUnit {
			step = rns.StepSigma(c.Noise.Sigma, m)
		}
		if step > rns.MaxStepSigma {
			return nil, fmt.Errorf("--noise-sigma %g is %g residue steps for modulus %d, beyond %g, where every readout is already uniformly random; use a smaller --noise-sigma", c.Noise.Sigma, step, m, rns.MaxStepSigma)
		}
	}
	return set, nil
}

// Moduli is --rns-moduli: the base moduli. Its text is a preset name
// (special-k4 .. special-k8) or a comma list.
type Moduli []int64

// String implements flag.Value: the preset's name when the moduli are a
// preset, else the comma list.
func (m *Moduli) String() string {
	if m == nil {
		return ""
	}
	for _, name := range rns.PresetNames() {
		if p, _ := rns.Preset(name); slices.Equal(p, *m) {
			return name
		}
	}
	return joinInts(*m)
}

// Set implements flag.Value.
func (m *Moduli) Set(text string) error {
	v, err := rns.ParseModuli(text)
	if err != nil {
		return fmt.Errorf("--rns-moduli: %w", err)
	}
	*m = v
	return nil
}

// Redundant is --rrns-redundant: either a count of redundant moduli,
// chosen automatically (the Count smallest that form a valid set with the
// base), or, when Moduli is not nil, the redundant moduli themselves.
type Redundant struct {
	Count  int
	Moduli []int64
}

// moduli returns the redundant moduli for base, checking a count against
// the most that fit.
func (r Redundant) moduli(base []int64) ([]int64, error) {
	if r.Moduli != nil {
		return r.Moduli, nil
	}
	if limit := maxRedundantCount(base); r.Count < 0 || r.Count > limit {
		return nil, redundantCountError(strconv.Itoa(r.Count), base)
	}
	return rns.AutoRedundant(base, r.Count), nil
}

func redundantCountError(text string, base []int64) error {
	return fmt.Errorf("--rrns-redundant %q: give a count 0..%d (the most whose moduli product fits with moduli %s) or a comma list of moduli such as 67,71", text, maxRedundantCount(base), setString(base))
}

// redundantValue is the flag.Value of --rrns-redundant. A plain integer is
// always a count (never a modulus: "99" must not become the modulus 99);
// a comma list gives the moduli themselves ("67," for a single one). It
// knows the base moduli so that its message can say how many fit.
type redundantValue struct {
	r    *Redundant
	base *Moduli
}

func (v *redundantValue) String() string {
	if v == nil || v.r == nil {
		return ""
	}
	if v.r.Moduli == nil {
		return strconv.Itoa(v.r.Count)
	}
	s := joinInts(v.r.Moduli)
	if len(v.r.Moduli) == 1 {
		s += ","
	}
	return s
}

func (v *redundantValue) Set(text string) error {
	text = strings.TrimSpace(text)
	if !strings.Contains(text, ",") {
		n, err := strconv.Atoi(text)
		if err != nil {
			return redundantCountError(text, *v.base)
		}
		*v.r = Redundant{Count: n}
		return nil
	}
	var out []int64
	for _, f := range strings.Split(text, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		m, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return fmt.Errorf("--rrns-redundant %q: %q is not an integer; give a count or a comma list of moduli such as 67,71", text, f)
		}
		out = append(out, m)
	}
	*v.r = Redundant{Moduli: out} // an empty list is no redundant modulus: Count 0
	if len(out) == 0 {
		v.r.Moduli = nil
	}
	return nil
}

// modeValue is --rns-mode: fast (false) or reference (true).
type modeValue bool

func (v *modeValue) String() string {
	if v != nil && *v {
		return "reference"
	}
	return "fast"
}

func (v *modeValue) Set(text string) error {
	switch text = strings.TrimSpace(text); text {
	case "fast":
		*v = false
	case "reference":
		*v = true
	default:
		return fmt.Errorf("--rns-mode %q: use fast or reference", text)
	}
	return nil
}

// unitValue is --noise-unit: step (false) or phase (true).
type unitValue bool

func (v *unitValue) String() string {
	if v != nil && *v {
		return "phase"
	}
	return "step"
}

func (v *unitValue) Set(text string) error {
	switch text = strings.TrimSpace(text); text {
	case "step":
		*v = false
	case "phase":
		*v = true
	default:
		return fmt.Errorf("--noise-unit %q: use step (residue steps) or phase (radians)", text)
	}
	return nil
}

// maxRedundantCount is the largest count of automatically chosen redundant
// moduli that still forms a valid set with base.
func maxRedundantCount(base []int64) int {
	if _, err := rns.NewSet(base, nil); err != nil {
		return 0 // no valid base: AutoRedundant needs one
	}
	n := 0
	for ; n < 64; n++ {
		if _, err := rns.NewSet(base, rns.AutoRedundant(base, n+1)); err != nil {
			break
		}
	}
	return n
}

// checkRange refuses a format whose tile dot products can wrap around the
// signed range of the base moduli, suggesting what to change.
func checkRange(f ibfp.Format, set *rns.Set) error {
	need, have := f.MaxTileDot(), set.MaxMagnitude()
	if need <= have {
		return nil
	}
	var fixes []string
	if h := ibfp.LargestTile(f.Bits, have); h > 0 {
		fixes = append(fixes, fmt.Sprintf("lower --tile to %d", h))
	}
	for b := f.Bits - 1; b >= 2; b-- {
		if q := int64(1)<<(b-1) - 1; int64(f.Tile)*q*q <= have {
			fixes = append(fixes, fmt.Sprintf("--bfp-bits to %d", b))
			break
		}
	}
	larger := "use larger moduli"
	for _, name := range rns.PresetNames() {
		m, _ := rns.Preset(name)
		if s, err := rns.NewSet(m, nil); err == nil && need <= s.MaxMagnitude() {
			larger = fmt.Sprintf("use larger moduli (e.g. --rns-moduli %s)", name)
			break
		}
	}
	fixes = append(fixes, larger)
	return fmt.Errorf("tile %d × (2^%d-1)^2 = %d exceeds the signed range ±%d of moduli %s, so tile sums would wrap around; %s",
		f.Tile, f.Bits-1, need, have, setString(set.Base()), strings.Join(fixes, " or "))
}

func setString(m []int64) string { return "{" + joinInts(m) + "}" }

func joinInts(m []int64) string {
	s := make([]string, len(m))
	for i, v := range m {
		s[i] = strconv.FormatInt(v, 10)
	}
	return strings.Join(s, ",")
}

// RNSModuli returns the base moduli: the capability by which reports
// recognise an RNS configuration.
func (c *Config) RNSModuli() []int64 { return c.Moduli }
