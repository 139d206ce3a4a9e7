package main

import (
	"bytes"
	"errors"
	"flag"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/datasets/catalog"
	"github.com/mirage-go/mirage/layers"
	"github.com/mirage-go/mirage/models"
)

// testReg returns what main passes to every command: the shipped models,
// data sets and backends.
func testReg() mirage.Registries { return mirage.Default() }

// Help texts and the data listing come from the registries: a model and a
// data set registered by a program appear in them without any change to
// this command.
func TestHelpListsRegistered(t *testing.T) {
	reg := mirage.Default()
	require.NoError(t, reg.Models.Register(models.Descriptor{
		Name: "toy", About: "toy", Input: datasets.Images, DefaultDataset: "toy-set",
		Build: func(spec models.Spec, rng *rand.Rand) (layers.Module, error) {
			return layers.NewLinear("fc", spec.InputShape[0], spec.NumClasses, true, rng), nil
		},
	}))
	require.NoError(t, reg.Datasets.Register(catalog.Generated{
		Description: catalog.Description{Name: "toy-set", About: "a toy data set", Input: datasets.Images},
	}))
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"train", "--help"}, []string{"model: mlp, lenet, resnet20, resnet18, bert, toy",
			"data set: mnist, fashion-mnist, cifar10, imdb, toy-set",
			"mlp, lenet: mnist; resnet20, resnet18: cifar10; bert: imdb; toy: toy-set"}},
		{[]string{"compare", "--help"}, []string{"model: mlp, lenet, resnet20, resnet18, bert, toy"}},
		{[]string{"bench", "train", "--help"}, []string{"models: mlp, lenet, resnet20, resnet18, bert, toy"}},
		{[]string{"cost", "--help"}, []string{"priced: mlp, lenet, resnet20, resnet18, bert, toy"}},
		{[]string{"data", "--help"}, []string{"fetch NAME    download NAME (mnist, fashion-mnist, cifar10, imdb, toy-set)"}},
		{[]string{"data", "list", "--cache-dir", t.TempDir()}, []string{"toy-set: a toy data set\n  note:      generated in memory"}},
	} {
		var out, errb bytes.Buffer
		require.Equal(t, 0, run(reg, tc.args, &out, &errb), "%v: %s", tc.args, errb.String())
		for _, want := range tc.want {
			require.Contains(t, out.String(), want, "%v", tc.args)
		}
	}
}

// tileConfig is a backend configuration with one option that the shipped
// BFP backends also have, at another default.
type tileConfig struct{ Tile int }

func (c *tileConfig) BindFlags(fs *flag.FlagSet) { fs.IntVar(&c.Tile, "tile", c.Tile, "tile length") }
func (c *tileConfig) Validate() error            { return nil }

// When backends default a shared option differently, the help names each
// one's default instead of the first backend's (which would be wrong for
// the others), and a run given no value still gets its own backend's.
func TestHelpNamesEachBackendsDefaultWhenTheyDiffer(t *testing.T) {
	reg := mirage.Default()
	require.NoError(t, reg.Backends.Add(backend.Descriptor{Name: "wide-tiles", Help: "a backend with tiles of 512",
		NewConfig: func() backend.Config { return &tileConfig{Tile: 512} },
		New:       func(backend.Config) (backend.Backend, error) { return nil, errors.New("not built in this test") }}))
	var out, errb bytes.Buffer
	require.Equal(t, 0, run(reg, []string{"train", "--help"}, &out, &errb), errb.String())
	i := strings.Index(out.String(), "-tile ")
	require.GreaterOrEqual(t, i, 0, out.String())
	entry, _, _ := strings.Cut(out.String()[i:], "\n  -")
	require.Contains(t, entry, "(default: analog 128, bfp 128, rns 128, wide-tiles 512)")
	require.NotContains(t, entry, `(default "128")`)

	// Options every backend defaults alike keep the usual form.
	i = strings.Index(out.String(), "-noise-roles ")
	entry, _, _ = strings.Cut(out.String()[i:], "\n  -")
	require.Contains(t, entry, `(default "forward,dX,dW")`)
}
