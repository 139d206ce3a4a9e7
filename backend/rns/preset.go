package rns

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mirage-go/mirage/internal/rns"
)

// A preset is a named configuration of the knobs that define the emulated
// core's number system: the base moduli, the mantissa width and the
// redundant moduli (--rns-preset). The defaults are one; the configuration
// they replaced in December 2026 is another, so that it stays one option
// away. Options given beside a preset override it, whatever their order.
type preset struct {
	name      string
	help      string
	moduli    string // a preset of internal/rns
	bits      int
	redundant int
}

// presets lists the presets, the defaults' first.
func presets() []preset {
	return []preset{
		{name: "k7-rrns2", moduli: "special-k7", bits: 7, redundant: 2,
			help: "special-k7 moduli, 7-bit mantissas, 2 redundant moduli: the defaults"},
		{name: "k6", moduli: "special-k6", bits: 6, redundant: 0,
			help: "special-k6 moduli, 6-bit mantissas, no redundant moduli: the defaults until December 2026"},
	}
}

// DefaultPreset is the name of the preset DefaultConfig starts from.
const DefaultPreset = "k7-rrns2"

// PresetNames returns the names --rns-preset accepts, the default's first.
func PresetNames() []string {
	ps := presets()
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.name
	}
	return names
}

// ApplyPreset sets the moduli, the mantissa width and the redundant moduli
// of c to those of the named preset, and records its name in c.Preset.
// The other knobs keep their values.
func (c *Config) ApplyPreset(name string) error {
	ps := presets()
	i := slices.IndexFunc(ps, func(p preset) bool { return p.name == name })
	if i < 0 {
		return fmt.Errorf("--rns-preset %q: use %s", name, presetList())
	}
	p := ps[i]
	m, ok := rns.Preset(p.moduli)
	if !ok {
		panic("rns: preset " + p.name + " names unknown moduli " + p.moduli) // a bug in this file
	}
	c.Preset, c.Moduli, c.Format.Bits, c.Redundant = p.name, m, p.bits, Redundant{Count: p.redundant}
	return nil
}

func presetList() string {
	ps := presets()
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%s (%s)", p.name, p.help)
	}
	return strings.Join(parts, " or ")
}

// presetValue is the flag.Value of --rns-preset. It is a
// backend.PresetValue: backend.DecodeOptions sets it before the other
// options, which then override it.
type presetValue struct{ c *Config }

func (v presetValue) String() string {
	if v.c == nil {
		return ""
	}
	return v.c.Preset
}

func (v presetValue) Set(text string) error { return v.c.ApplyPreset(strings.TrimSpace(text)) }

// IsPresetFlag implements backend.PresetValue.
func (presetValue) IsPresetFlag() bool { return true }
