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
	for _, d := range []backend.Descriptor{fp32.Descriptor(), bfp.Descriptor(), rns.Descriptor(), analog.Descriptor()} {
		must(r.Add(d))
	}
	return r
}

func must(err error) {
	if err != nil {
		panic(err) // a duplicate name is a bug in this file
	}
}
