package registry

import (
	"reflect"
	"testing"

	"github.com/mirage-go/mirage/backend"
)

// FuzzBackendOptions hands every backend arbitrary option strings: each
// backend's configuration must refuse what it cannot use with an error,
// never panic; a configuration it accepts must encode to options that
// decode to the same configuration (the serialised form round-trips), and
// the backend built from it must report its name.
func FuzzBackendOptions(f *testing.F) {
	f.Add("rns", "noise-sigma", "NaN", "rrns-redundant", "99")
	f.Add("rns", "rns-moduli", "63,64,65", "tile", "1e9")
	f.Add("rns", "rrns-redundant", "67,", "noise-roles", "none")
	f.Add("rns", "rns-moduli", "61,64,65", "rrns-redundant", ",")
	f.Add("analog", "adc-bits", "64", "noise-sigma", "+Inf")
	f.Add("bfp", "bfp-bits", "-1", "fp32-layers", "conv[")
	f.Add("bfp", "fp32-layers", " a, ,b*", "tile-accumulation", "")
	f.Add("rns", "noise-unit", "phase", "noise-sigma", "1e300")
	f.Add("fp32", "tile", "1", "", "")
	f.Add("rns", "rns-preset", "k6", "bfp-bits", "7")
	f.Add("rns", "rrns-redundant", "1", "rns-preset", "k7-rrns2")
	f.Fuzz(func(t *testing.T, name, k1, v1, k2, v2 string) {
		reg := New()
		opts := backend.Options{}
		if k1 != "" {
			opts[k1] = v1
		}
		if k2 != "" {
			opts[k2] = v2
		}
		cfg, cfgErr := reg.NewConfig(name, opts)
		b, err := reg.New(name, opts)
		if (cfgErr == nil) != (err == nil) {
			t.Fatalf("%s %v: NewConfig says %v but New says %v", name, opts, cfgErr, err)
		}
		if err != nil {
			return
		}
		if b.Name() != name {
			t.Fatalf("backend %s built from %v calls itself %q", name, opts, b.Name())
		}
		enc := backend.EncodeOptions(cfg)
		back, err := reg.NewConfig(name, enc)
		if err != nil {
			t.Fatalf("%s %v encodes to %v, which does not decode: %v", name, opts, enc, err)
		}
		if !reflect.DeepEqual(cfg, back) {
			t.Fatalf("%s %v: config %+v encodes to %v, which decodes to %+v", name, opts, cfg, enc, back)
		}
		if again := backend.EncodeOptions(back); !reflect.DeepEqual(enc, again) {
			t.Fatalf("%s: %v re-encodes to %v", name, enc, again)
		}
	})
}
