package registry

import (
	"testing"

	"github.com/mirage-go/mirage/backend"
)

// FuzzBackendOptions hands every backend arbitrary option strings: each
// factory must refuse what it cannot use with an error, never panic, and
// a backend it builds must report its name.
func FuzzBackendOptions(f *testing.F) {
	f.Add("rns", "noise-sigma", "NaN", "rrns-redundant", "99")
	f.Add("rns", "rns-moduli", "63,64,65", "tile", "1e9")
	f.Add("analog", "adc-bits", "64", "noise-sigma", "+Inf")
	f.Add("bfp", "bfp-bits", "-1", "fp32-layers", "conv[")
	f.Add("rns", "noise-unit", "phase", "noise-sigma", "1e300")
	f.Add("fp32", "tile", "1", "", "")
	f.Fuzz(func(t *testing.T, name, k1, v1, k2, v2 string) {
		reg := New()
		opts := backend.Options{}
		if k1 != "" {
			opts[k1] = v1
		}
		if k2 != "" {
			opts[k2] = v2
		}
		b, err := reg.New(name, opts)
		if err != nil {
			return
		}
		if b.Name() == "" {
			t.Fatalf("backend %s built from %v has no name", name, opts)
		}
	})
}
