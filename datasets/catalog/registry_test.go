package catalog_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/datasets/catalog"
)

func TestRegistryRegister(t *testing.T) {
	reg := catalog.NewRegistry()
	for _, tc := range []struct {
		desc catalog.Description
		want string
	}{
		{catalog.Description{Name: "", Input: datasets.Images}, `invalid data set name ""`},
		{catalog.Description{Name: "a b", Input: datasets.Images}, `invalid data set name "a b"`},
		{catalog.Description{Name: "toy"}, "data set toy does not say what its examples are"},
	} {
		require.ErrorContains(t, reg.Register(catalog.Generated{Description: tc.desc}), tc.want)
	}
	require.Empty(t, reg.Names())
	toy := catalog.Generated{Description: catalog.Description{Name: "toy", Input: datasets.Images}}
	require.NoError(t, reg.Register(toy))
	require.ErrorContains(t, reg.Register(toy), "data set toy is already registered")
	require.Equal(t, []string{"toy"}, reg.Names())
	_, err := reg.Get("svhn")
	require.EqualError(t, err, `unknown data set "svhn"; valid names: toy`)
}

// blobs is a tiny data set of n examples of one value each.
type blobs int

func (b blobs) Len() int        { return int(b) }
func (blobs) Shape() []int      { return []int{1} }
func (blobs) Classes() []string { return []string{"a", "b"} }
func (blobs) Example(i int, dst []float32, _ *rand.Rand) int {
	dst[0] = float32(i)
	return i % 2
}

func TestGenerated(t *testing.T) {
	var log bytes.Buffer
	opts := catalog.Options{CacheDir: t.TempDir(), SearchDirs: []string{}, Log: &log}
	good := catalog.Generated{
		Description: catalog.Description{Name: "toy", About: "a toy", Input: datasets.Images},
		Make: func(catalog.Options) (datasets.Split, error) {
			return datasets.Split{Train: blobs(6), Test: blobs(2)}, nil
		},
	}
	failing := good
	failing.Name = "failing"
	failing.Make = func(catalog.Options) (datasets.Split, error) { return datasets.Split{}, fmt.Errorf("out of ideas") }
	empty := good
	empty.Name = "empty"
	empty.Make = func(catalog.Options) (datasets.Split, error) { return datasets.Split{Train: blobs(1)}, nil }
	reg := catalog.NewRegistry()
	for _, s := range []catalog.Source{good, failing, empty} {
		require.NoError(t, reg.Register(s))
	}

	d, err := reg.Open("toy", "", opts)
	require.NoError(t, err)
	require.Equal(t, 6, d.Train.Len())
	require.Equal(t, "toy", d.Name, "the registry names the split")
	require.Contains(t, log.String(), "toy: 6 training and 2 test examples from memory")
	_, err = reg.Open("toy", "/some/dir", opts)
	require.ErrorContains(t, err, "toy: generated in memory, it reads no files; drop --data-dir")
	_, err = reg.Open("failing", "", opts)
	require.EqualError(t, err, "failing: out of ideas")
	_, err = reg.Open("empty", "", opts)
	require.ErrorContains(t, err, "empty: Make returned no training or no test set")
	_, err = reg.Fetch(context.Background(), "toy", opts)
	require.ErrorContains(t, err, "nothing to fetch")

	statuses, err := reg.Verify("", opts)
	require.NoError(t, err)
	require.Len(t, statuses, 3)
	require.Equal(t, "toy", statuses[0].Name)
	require.Equal(t, "a toy", statuses[0].Description)
	require.True(t, statuses[0].OK())
	require.Equal(t, "read ok: 6 training and 2 test examples", statuses[0].Checks[0].String())
	require.False(t, statuses[1].OK())
}
