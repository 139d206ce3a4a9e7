package train

import (
	"io"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/datasets/imdb"
	"github.com/mirage-go/mirage/internal/limits"
	"github.com/mirage-go/mirage/models"
)

func TestValidateRefusesNonFiniteAndOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.LR = math.Inf(1) }, "invalid --lr +Inf: must be a finite number"},
		{func(c *Config) { c.LR = math.NaN() }, "invalid --lr NaN"},
		{func(c *Config) { c.LR = 0 }, "invalid --lr 0"},
		{func(c *Config) { c.Momentum = math.NaN() }, "invalid --momentum NaN"},
		{func(c *Config) { c.WeightDecay = math.Inf(1) }, "invalid --weight-decay +Inf"},
		{func(c *Config) { c.WarmupEpochs = math.NaN() }, "invalid --warmup NaN"},
		{func(c *Config) { c.LabelSmoothing = 1 }, "invalid --label-smoothing 1"},
		{func(c *Config) { c.ClipGradNorm = math.Inf(1) }, "invalid --clip-grad +Inf"},
		{func(c *Config) { c.EvalBatchSize = 0 }, "invalid eval batch size 0"},
		{func(c *Config) { c.MaxLen = MaxMaxLen + 1 }, "invalid --max-len 1048577"},
		{func(c *Config) { c.Epochs = MaxEpochs + 1 }, "invalid --epochs 1000001"},
		{func(c *Config) { c.Model, c.Dataset = "mlp", "imdb" }, "model mlp takes image input but data set imdb holds text; use --dataset mnist or fashion-mnist or cifar10, or --model bert"},
		{func(c *Config) { c.Model, c.Dataset = "resnet20", "imdb" }, "--model bert"},
		{func(c *Config) { c.Model, c.Dataset = "bert", "cifar10" }, "use --dataset imdb, or --model mlp or lenet or resnet20 or resnet18"},
	} {
		cfg := Recipe(testReg(), "lenet", "mnist")
		tc.edit(&cfg)
		require.ErrorContains(t, cfg.Validate(testReg()), tc.want)
	}
	cfg := Recipe(testReg(), "bert", "")
	require.NoError(t, cfg.Validate(testReg()))
}

func TestProbeFindsLayersAndScalesWithTheModel(t *testing.T) {
	lenet, err := probeModel(models.LeNetModel(), models.Spec{InputShape: []int{1, 28, 28}, NumClasses: 10, Seed: 1})
	require.NoError(t, err)
	require.Equal(t, []string{"conv1", "conv2", "fc1", "fc2", "fc3"}, lenet.layers)
	require.Equal(t, int64(61706*4), lenet.paramBytes)
	// LeNet's forward products per example: conv1 6×28×28, conv2 16×10×10,
	// fc1 120, fc2 84, fc3 10 floats; the estimate counts each three times
	// (value, gradient, an element-wise tensor) plus the largest column
	// matrix (conv1's 784×25, or conv2's 100×150, whichever is larger).
	outputs := int64(4 * (6*28*28 + 16*10*10 + 120 + 84 + 10))
	column := int64(4 * max(784*25, 100*150))
	require.Equal(t, 3*outputs+column, lenet.perExample)
	require.Equal(t, outputs+column, lenet.forward)

	big, err := probeModel(models.ResNet20Model(), models.Spec{InputShape: []int{3, 32, 32}, NumClasses: 10, Seed: 1})
	require.NoError(t, err)
	require.Greater(t, big.perExample, 10*lenet.perExample)
}

func TestMemoryLimitsRefuseLargeBatches(t *testing.T) {
	env := &Env{Config: Recipe(testReg(), "lenet", "mnist"), exampleSize: 784,
		probe: &modelProbe{perExample: 1 << 20, forward: 1 << 19, paramBytes: 1 << 18}, memory: limits.Memory{Bytes: 1 << 30, Source: "test"}}
	require.NoError(t, env.CheckBatch("--probe-batch", 500))
	err := env.CheckBatch("--probe-batch", 100000000)
	require.ErrorContains(t, err, "--probe-batch 100000000 needs about 105.8 TB of memory but 1.1 GB are available (test)")
	require.ErrorContains(t, env.CheckBatch("--probe-batch", 0), "at least 1")

	cfg := Recipe(testReg(), "bert", "imdb")
	cfg.MaxLen = 100000
	require.ErrorContains(t, checkBeforeLoad(cfg, imdb.Source{}.Describe(), limits.Memory{Bytes: 16 << 30, Source: "test"}), "--max-len 100000 needs about")
	cfg.MaxLen = 128
	require.NoError(t, checkBeforeLoad(cfg, imdb.Source{}.Describe(), limits.Memory{Bytes: 16 << 30, Source: "test"}))
}

func TestFP32LayersMustMatch(t *testing.T) {
	layers := []string{"conv1", "conv2", "fc1", "layer4.0.conv1"}
	cfg := Config{Model: "x", BackendOptions: backend.Options{"fp32-layers": "conv1, layer4.*"}}
	require.NoError(t, checkFP32Layers(cfg, layers))
	cfg.BackendOptions["fp32-layers"] = "conv1,fc9"
	require.EqualError(t, checkFP32Layers(cfg, layers), `--fp32-layers "fc9" matches no layer of x (its layers: conv1, conv2, fc1, layer4.0.conv1)`)
}

// Setup refuses a training batch beyond the memory budget before any
// training, with the estimate for the model in the message.
func TestSetupRefusesABatchBeyondMemory(t *testing.T) {
	t.Setenv(limits.MemoryEnv, "1GiB")
	cfg := Recipe(testReg(), "lenet", "mnist")
	cfg.TrainLimit, cfg.TestLimit, cfg.BatchSize = 100, 100, 100000
	_, err := Setup(cfg, testReg(), io.Discard)
	require.ErrorContains(t, err, "--batch-size 100000 needs about")
	require.ErrorContains(t, err, "1.1 GB are available ($MIRAGE_MEMORY_LIMIT)")
	cfg.BatchSize = 64
	_, err = Setup(cfg, testReg(), io.Discard)
	require.NoError(t, err)
}
