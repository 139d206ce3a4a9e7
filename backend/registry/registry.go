// Package registry lists every backend mirage ships, by name.
package registry

import (
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/fp32"
)

// New returns a registry holding every shipped backend. Each call builds a
// fresh registry: there is no package-level state.
func New() *backend.Registry {
	r := backend.NewRegistry()
	must(r.Register("fp32", "exact single-precision GEMMs", nil, fp32.Factory))
	return r
}

func must(err error) {
	if err != nil {
		panic(err) // a duplicate name is a bug in this file
	}
}
