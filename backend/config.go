package backend

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Config is a backend's typed configuration: a struct holding its knobs,
// whose zero-argument constructor (a [Descriptor]'s NewConfig) fills in
// the defaults. A Go program sets the fields directly; the command line,
// sweep specs and compare arms reach them through the flags:
//
//	cfg := rns.DefaultConfig()
//	cfg.Noise.Sigma = 0.12
//	b, err := rns.New(cfg)
//
// The implementation is a pointer to the struct, so that the flags it
// binds write into it.
type Config interface {
	// BindFlags defines one flag per knob on fs. Each flag's value is a
	// typed flag.Value that parses its text into the config (refusing
	// text that is not of the knob's type), its default is the config's
	// current value, and String gives back the canonical text, which
	// parses to the same value.
	BindFlags(fs *flag.FlagSet)
	// Validate checks the configuration as a whole (ranges, and knobs that
	// constrain each other), returning one error that names the flag to
	// change. A Descriptor's New calls it before building anything.
	Validate() error
}

// Descriptor describes a backend to a [Registry]: its name, a one-line
// help, its configuration with the defaults, and the constructor that
// builds a backend from a configuration NewConfig returned (validating it
// first).
type Descriptor struct {
	Name      string
	Help      string
	NewConfig func() Config
	New       func(Config) (Backend, error)
}

// Factory builds the backend from its serialised options (flag name →
// text): the defaults of NewConfig with opts decoded into them, then New,
// which validates. A Registry's New does the same for registered
// descriptors; a backend package's own Factory is d.Factory.
func (d Descriptor) Factory(opts Options) (Backend, error) {
	cfg := d.NewConfig()
	if err := DecodeOptions(cfg, opts, d.Name); err != nil {
		return nil, err
	}
	return d.New(cfg)
}

// Options lists the backend's options, with their defaults.
func (d Descriptor) Options() []OptionSpec { return OptionSpecs(d.NewConfig()) }

// Constructor adapts a backend package's typed constructor, New(cfg C)
// (B, error), to Descriptor.New, which receives the *C that NewConfig
// made. An error gives a nil Backend, not a nil B in a non-nil interface.
func Constructor[C any, PC interface {
	*C
	Config
}, B Backend](newBackend func(C) (B, error)) func(Config) (Backend, error) {
	return func(c Config) (Backend, error) {
		cfg, ok := c.(PC)
		if !ok {
			return nil, fmt.Errorf("backend: configuration of type %T, want %T", c, cfg)
		}
		b, err := newBackend(*cfg)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
}

// PresetValue is implemented by the flag.Value of an option that sets
// several knobs at once to a named configuration (rns's --rns-preset), as
// flag's boolFlag marks boolean flags. DecodeOptions sets such options
// before all others, so that an option given beside a preset overrides
// it, whatever order the options come in.
type PresetValue interface {
	flag.Value
	IsPresetFlag() bool
}

func isPreset(f *flag.Flag) bool {
	p, ok := f.Value.(PresetValue)
	return ok && p.IsPresetFlag()
}

// DecodeOptions sets cfg from its serialised form: knob values by flag
// name, as the command line, a sweep spec, a compare arm or a run's
// backend_options give them. A name that is not one of cfg's flags is
// refused with the list of those that are; backendName completes the
// message. Presets (see PresetValue) are set first, then the other
// options in the order of their names. Knobs not in opts keep their
// values. It does not call Validate.
func DecodeOptions(cfg Config, opts Options, backendName string) error {
	fs := flagSet(cfg)
	names := make([]string, 0, len(opts))
	for k := range opts {
		names = append(names, k)
	}
	// Presets first, then by name: a deterministic first error, and moduli
	// before what depends on them.
	preset := func(name string) bool { f := fs.Lookup(name); return f != nil && isPreset(f) }
	slices.SortFunc(names, func(a, b string) int {
		if pa, pb := preset(a), preset(b); pa != pb {
			if pa {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	for _, k := range names {
		f := fs.Lookup(k)
		if f == nil {
			return fmt.Errorf("option --%s does not apply to backend %s (its options: %s)", k, backendName, optionNames(OptionSpecs(cfg)))
		}
		if err := f.Value.Set(opts[k]); err != nil {
			return err
		}
	}
	return nil
}

// EncodeOptions returns the serialised form of cfg: every knob's canonical
// text by flag name. DecodeOptions of it into a fresh configuration gives
// back cfg.
func EncodeOptions(cfg Config) Options {
	opts := Options{}
	flagSet(cfg).VisitAll(func(f *flag.Flag) { opts[f.Name] = f.Value.String() })
	return opts
}

// OptionSpecs lists cfg's flags, sorted by name, with cfg's current values
// as the defaults.
func OptionSpecs(cfg Config) []OptionSpec {
	var specs []OptionSpec
	flagSet(cfg).VisitAll(func(f *flag.Flag) {
		specs = append(specs, OptionSpec{Name: f.Name, Default: f.DefValue, Help: f.Usage})
	})
	return specs
}

func flagSet(cfg Config) *flag.FlagSet {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.BindFlags(fs)
	return fs
}

// Add registers a backend by its descriptor. It returns an error if the
// name is taken or the descriptor is incomplete.
func (r *Registry) Add(d Descriptor) error {
	if d.Name == "" || d.NewConfig == nil || d.New == nil {
		return fmt.Errorf("backend descriptor %q needs a name, NewConfig and New", d.Name)
	}
	if _, ok := r.entries[d.Name]; ok {
		return fmt.Errorf("backend %q registered twice", d.Name)
	}
	r.entries[d.Name] = entry{help: d.Help, options: d.Options(), desc: &d}
	return nil
}

// NewConfig returns the default configuration of the backend called name,
// with opts (its serialised form) applied and validated. Backends
// registered with a plain Factory have no typed configuration: for them
// it returns an error.
func (r *Registry) NewConfig(name string, opts Options) (Config, error) {
	e, ok := r.entries[name]
	if !ok {
		return nil, r.unknown(name)
	}
	if e.desc == nil {
		return nil, fmt.Errorf("backend %s has no typed configuration", name)
	}
	cfg := e.desc.NewConfig()
	if err := DecodeOptions(cfg, opts, name); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (r *Registry) unknown(name string) error {
	return fmt.Errorf("unknown backend %q (valid: %s)", name, strings.Join(r.Names(), ", "))
}
