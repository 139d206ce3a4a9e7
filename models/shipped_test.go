package models

import "github.com/mirage-go/mirage/layers"

// shipped returns a registry of the models this package ships, in the
// order mirage.Default registers them (package mirage tests that order).
// The package's own tests cannot import mirage, which imports them.
func shipped() *Registry {
	r := NewRegistry()
	for _, d := range []Descriptor{MLPModel(), LeNetModel(), ResNet20Model(), ResNet18Model(), BERTModel()} {
		if err := r.Register(d); err != nil {
			panic(err)
		}
	}
	return r
}

// New builds a shipped model by name, as the registry of mirage.Default
// does.
func New(name string, spec Spec) (layers.Module, error) {
	return shipped().New(name, spec)
}
