package mirage_test

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/datasets/catalog"
	"github.com/mirage-go/mirage/layers"
	"github.com/mirage-go/mirage/models"
	"github.com/mirage-go/mirage/train"
)

// blobs is a toy data set: two Gaussian clouds in 4 dimensions, centred
// at ±(1, 1, 1, 1) with standard deviation 0.5; the label is the cloud.
// Example i is drawn from (seed, i) alone, so the set is the same on every
// call.
type blobs struct {
	n    int
	seed uint64
}

func (b blobs) Len() int          { return b.n }
func (b blobs) Shape() []int      { return []int{4} }
func (b blobs) Classes() []string { return []string{"minus", "plus"} }
func (b blobs) Example(i int, dst []float32, _ *rand.Rand) int {
	rng := rand.New(rand.NewPCG(b.seed, uint64(i)))
	label := i % 2
	for j := range dst {
		dst[j] = float32(float64(2*label-1) + 0.5*rng.NormFloat64())
	}
	return label
}

// blobsSource is the toy data set as a catalog source: one value.
func blobsSource() catalog.Source {
	return catalog.Generated{
		Description: catalog.Description{Name: "toy-blobs", About: "two Gaussian clouds in 4-D", Input: datasets.Images},
		Make: func(catalog.Options) (datasets.Split, error) {
			return datasets.Split{Name: "toy-blobs", Train: blobs{n: 512, seed: 1}, Test: blobs{n: 256, seed: 2}}, nil
		},
	}
}

// linearModel is a toy model: one Linear layer on the flattened example.
type linearModel struct{ fc *layers.Linear }

func (m *linearModel) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	return m.fc.Forward(t, t.Reshape(x, x.Shape()[0], -1))
}
func (m *linearModel) Params() []*autograd.Tensor  { return m.fc.Params() }
func (m *linearModel) Buffers() []*autograd.Tensor { return nil }
func (m *linearModel) SetTraining(bool)            {}

// linearDescriptor describes the toy model: it trains on toy-blobs by
// default, two epochs of SGD.
func linearDescriptor() models.Descriptor {
	recipe := models.DefaultRecipe()
	recipe.Epochs, recipe.BatchSize, recipe.EvalBatchSize, recipe.LR = 2, 32, 64, 0.1
	return models.Descriptor{
		Name: "toy-linear", About: "a single Linear layer",
		Input: datasets.Images, DefaultDataset: "toy-blobs", Recipe: recipe,
		Bench: models.Spec{InputShape: []int{4}, NumClasses: 2, Seed: 1},
		Build: func(spec models.Spec, rng *rand.Rand) (layers.Module, error) {
			in := 1
			for _, d := range spec.InputShape {
				in *= d
			}
			return &linearModel{fc: layers.NewLinear("fc", in, spec.NumClasses, true, rng)}, nil
		},
	}
}

// float64Backend is a toy backend: every product summed in float64 and
// rounded once. It counts its calls, so the test sees that training used it.
type float64Backend struct{ calls *atomic.Int64 }

func (float64Backend) Name() string { return "toy-float64" }

func (b float64Backend) MatMul(_ backend.Call, g backend.GEMM) error {
	if err := g.Validate(); err != nil {
		return err
	}
	b.calls.Add(1)
	for i := range g.M {
		for j := range g.N {
			var sum float64
			for p := range g.K {
				sum += float64(g.AtA(i, p)) * float64(g.AtB(p, j))
			}
			if g.Accumulate {
				sum += float64(g.C[i*g.LDC+j])
			}
			g.C[i*g.LDC+j] = float32(sum)
		}
	}
	return nil
}

// toyConfig is the toy backend's typed configuration: it has no knobs.
type toyConfig struct{}

func (*toyConfig) BindFlags(*flag.FlagSet) {}
func (*toyConfig) Validate() error         { return nil }

// registries returns the default registries plus the toy model, data set
// and backend: one registration line each, as a program that imports
// mirage would write them.
func registries(t *testing.T, calls *atomic.Int64) mirage.Registries {
	reg := mirage.Default()
	require.NoError(t, reg.Models.Register(linearDescriptor()))
	require.NoError(t, reg.Datasets.Register(blobsSource()))
	require.NoError(t, reg.Backends.Add(backend.Descriptor{Name: "toy-float64", Help: "products summed in float64",
		NewConfig: func() backend.Config { return &toyConfig{} },
		New:       func(backend.Config) (backend.Backend, error) { return float64Backend{calls}, nil }}))
	return reg
}

// A toy model, data set and backend registered from outside mirage train
// through the same entry point as `mirage train`, with the recipe of the
// toy model and its default data set.
func TestTrainRegisteredToys(t *testing.T) {
	var calls atomic.Int64
	reg := registries(t, &calls)
	cfg := train.Recipe(reg, "toy-linear", "")
	require.Equal(t, "toy-blobs", cfg.Dataset, "the model's default data set")
	require.Equal(t, 2, cfg.Epochs, "the model's recipe")
	cfg.Backend, cfg.Progress, cfg.OutDir = "toy-float64", false, t.TempDir()

	res, err := train.Run(cfg, reg, io.Discard)
	require.NoError(t, err)
	require.Positive(t, calls.Load(), "the toy backend computed the products")
	require.Len(t, res.Metrics, 2)
	for _, m := range res.Metrics {
		for name, v := range map[string]float64{"train loss": m.TrainLoss, "test loss": m.TestLoss,
			"train accuracy": m.TrainAcc, "test accuracy": m.TestAcc} {
			require.False(t, math.IsNaN(v) || math.IsInf(v, 0), "epoch %d %s is %v", m.Epoch, name, v)
		}
	}
	// The clouds are 4σ apart along the diagonal: a linear model
	// separates all but about 2·10⁻⁵ of the examples, so anything below
	// 95% means training did not work.
	require.Greater(t, res.FinalTestAcc, 0.95)
	require.Equal(t, "toy-linear", res.Summary.Model)
	require.Equal(t, "toy-blobs", res.Dataset)
	require.Equal(t, "toy-float64", res.Backend)

	// The same seed gives the same run.
	cfg.OutDir = t.TempDir()
	again, err := train.Run(cfg, reg, io.Discard)
	require.NoError(t, err)
	require.Equal(t, res.FinalTestLoss, again.FinalTestLoss)

	// The registered names take part in validation and its messages.
	bad := cfg
	bad.Model = "bert"
	require.ErrorContains(t, bad.Validate(reg), "model bert takes text input but data set toy-blobs holds image; use --dataset imdb, or --model mlp or lenet or resnet20 or resnet18 or toy-linear")
	bad = cfg
	bad.Dataset = "svhn"
	require.ErrorContains(t, bad.Validate(reg), "valid: mnist, fashion-mnist, cifar10, imdb, toy-blobs")
	require.Contains(t, strings.Join(reg.Backends.Names(), ","), "toy-float64")
}

// The default registries are fresh values: adding to one changes no other.
func TestDefaultIsFresh(t *testing.T) {
	a, b := mirage.Default(), mirage.Default()
	require.NoError(t, a.Models.Register(linearDescriptor()))
	require.NotContains(t, b.Models.Names(), "toy-linear")
	require.Equal(t, []string{"mlp", "lenet", "resnet20", "resnet18", "bert"}, b.Models.Names())
	require.Equal(t, []string{"mnist", "fashion-mnist", "cifar10", "imdb"}, b.Datasets.Names())
	require.Error(t, a.Models.Register(linearDescriptor()), "a name is registered once")
	require.Error(t, a.Datasets.Register(catalog.Generated{Description: catalog.Description{Name: "mnist", Input: datasets.Images}}))
	require.NoError(t, mirage.Default().Check())
	require.ErrorContains(t, mirage.Registries{}.Check(), "no model registry")
}

// Another module adds a model to mirage with one package of its own and
// one registration line; train then knows its name, its recipe and its
// default data set, and `mirage`-style help texts list it.
func Example_addModel() {
	reg := mirage.Default()
	if err := reg.Models.Register(linearDescriptor()); err != nil {
		fmt.Println(err)
		return
	}
	if err := reg.Datasets.Register(blobsSource()); err != nil {
		fmt.Println(err)
		return
	}
	cfg := train.Recipe(reg, "toy-linear", "")
	fmt.Println("models:", strings.Join(reg.Models.Names(), ", "))
	fmt.Println("toy-linear trains on", cfg.Dataset, "for", cfg.Epochs, "epochs; valid:", cfg.Validate(reg) == nil)
	// Output:
	// models: mlp, lenet, resnet20, resnet18, bert, toy-linear
	// toy-linear trains on toy-blobs for 2 epochs; valid: true
}
