// Package mirage assembles what a training run can name: the models, the
// data sets and the matrix-product backends, each held in a registry.
//
// Nothing in mirage is registered globally. [Default] builds the
// registries of everything mirage ships, and the packages that run
// training (train, experiment, bench, the mirage command) receive them as
// a [Registries] value. A program that uses mirage as a library adds its
// own model, data set or backend by registering it into the registries it
// got from Default, one line each, and passes them on:
//
//	reg := mirage.Default()
//	err := reg.Models.Register(mymodel.Descriptor())
//	...
//	res, err := train.Run(cfg, reg, os.Stderr)
//
// A model is a [models.Descriptor] (see package models), a data set a
// [catalog.Source] (see package datasets/catalog), a backend a factory
// registered in a [backend.Registry] (see package backend).
package mirage

import (
	"fmt"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/registry"
	"github.com/mirage-go/mirage/datasets/catalog"
	"github.com/mirage-go/mirage/datasets/cifar"
	"github.com/mirage-go/mirage/datasets/imdb"
	"github.com/mirage-go/mirage/datasets/mnist"
	"github.com/mirage-go/mirage/models"
)

// Registries are the models, data sets and backends a run may name.
type Registries struct {
	Models   *models.Registry
	Datasets *catalog.Registry
	Backends *backend.Registry
}

// Default returns fresh registries holding every model, data set and
// backend mirage ships, in the order help texts list them. Each call
// builds new registries, so a program may add to them freely.
func Default() Registries {
	m := models.NewRegistry()
	must(m.Register(models.MLPModel()))
	must(m.Register(models.LeNetModel()))
	must(m.Register(models.ResNet20Model()))
	must(m.Register(models.ResNet18Model()))
	must(m.Register(models.BERTModel()))

	d := catalog.NewRegistry()
	must(d.Register(mnist.MNISTSource()))
	must(d.Register(mnist.FashionSource()))
	must(d.Register(cifar.Source{}))
	must(d.Register(imdb.Source{}))

	return Registries{Models: m, Datasets: d, Backends: registry.New()}
}

// Check reports a registry that is missing, so that a function given
// incomplete Registries says so instead of panicking.
func (r Registries) Check() error {
	switch {
	case r.Models == nil:
		return fmt.Errorf("mirage: no model registry (use mirage.Default())")
	case r.Datasets == nil:
		return fmt.Errorf("mirage: no data-set registry (use mirage.Default())")
	case r.Backends == nil:
		return fmt.Errorf("mirage: no backend registry (use mirage.Default())")
	}
	return nil
}

func must(err error) {
	if err != nil {
		panic(err) // a duplicate or incomplete built-in is a bug in this file
	}
}
