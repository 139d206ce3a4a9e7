package main

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage"
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
