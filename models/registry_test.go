package models

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/layers"
)

func TestRegisterRefuses(t *testing.T) {
	build := func(Spec, *rand.Rand) (layers.Module, error) { return nil, nil }
	ok := Descriptor{Name: "toy", Build: build, Input: datasets.Images, DefaultDataset: "mnist"}
	for _, tc := range []struct {
		name string
		edit func(*Descriptor)
		want string
	}{
		{"no name", func(d *Descriptor) { d.Name = "" }, `invalid model name ""`},
		{"comma", func(d *Descriptor) { d.Name = "a,b" }, `invalid model name "a,b"`},
		{"colon", func(d *Descriptor) { d.Name = "a:b" }, `invalid model name "a:b"`},
		{"no builder", func(d *Descriptor) { d.Build = nil }, "model toy has no Build function"},
		{"no input kind", func(d *Descriptor) { d.Input = "" }, "model toy does not say what input it reads"},
		{"no data set", func(d *Descriptor) { d.DefaultDataset = "" }, "model toy has no default data set"},
		{"taken", func(d *Descriptor) { d.Name = "lenet" }, "model lenet is already registered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := shipped()
			d := ok
			tc.edit(&d)
			require.ErrorContains(t, r.Register(d), tc.want)
			require.Len(t, r.Names(), 5, "a refused descriptor is not added")
		})
	}
	r := shipped()
	require.NoError(t, r.Register(ok))
	got, found := r.Lookup("toy")
	require.True(t, found)
	require.Equal(t, DefaultRecipe(), got.Recipe, "the zero recipe means DefaultRecipe")
	require.Equal(t, []string{"mlp", "lenet", "resnet20", "resnet18", "bert", "toy"}, r.Names(), "in registration order")
	_, err := r.Get("vgg")
	require.EqualError(t, err, `unknown model "vgg" (valid: mlp, lenet, resnet20, resnet18, bert, toy)`)
}

// Every shipped descriptor builds its model from its own benchmark spec,
// and states the kind of input that spec describes.
func TestShippedDescriptorsBuildTheirBenchSpec(t *testing.T) {
	r := shipped()
	for _, name := range r.Names() {
		d, _ := r.Lookup(name)
		_, err := d.New(d.Bench)
		require.NoError(t, err, name)
		tokens := d.Bench.VocabSize > 0
		require.Equal(t, tokens, d.Input == datasets.Tokens, "%s: a vocabulary exactly when it reads tokens", name)
	}
}
