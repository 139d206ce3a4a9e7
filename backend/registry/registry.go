// Package registry lists every backend mirage ships, by name.
package registry

import (
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/analog"
	"github.com/mirage-go/mirage/backend/bfp"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/backend/rns"
)

// New returns a registry holding every shipped backend. Each call builds a
// fresh registry: there is no package-level state.
func New() *backend.Registry {
	r := backend.NewRegistry()
	must(r.Register("fp32", "exact single-precision GEMMs", nil, fp32.Factory))
	must(r.Register("bfp", "block floating point along the reduction dimension, exact tile products, no analog effects", bfp.Options(), bfp.Factory))
	must(r.Register("rns", "Mirage emulation: BFP + RNS modular GEMMs with photonic phase noise, optional RRNS", rns.Options(), rns.Factory))
	must(r.Register("analog", "conventional analog core: BFP tiles read by one ADC over the full range, with noise", analog.Options(), analog.Factory))
	return r
}

func must(err error) {
	if err != nil {
		panic(err) // a duplicate name is a bug in this file
	}
}
