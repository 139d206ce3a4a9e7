package train

import (
	"math"

	"github.com/mirage-go/mirage/internal/limits"
)

// The documented limits of a training configuration. Upper limits that
// depend on memory (batch sizes, sequence length) are not fixed numbers:
// Setup estimates the memory a setting needs for the chosen model and data
// and refuses it when it exceeds what is available (see checkMemory). The
// fixed upper limits below only keep arithmetic meaningful.
const (
	// MaxEpochs bounds --epochs (and so the number of scheduler steps).
	MaxEpochs = 1_000_000
	// MaxLR bounds --lr: a learning rate beyond it diverges on every model.
	MaxLR = 1e6
	// MaxWeightDecay bounds --weight-decay likewise.
	MaxWeightDecay = 1e6
	// MaxMaxLen bounds --max-len before memory is considered: BERT's
	// position table and the token arrays grow with it.
	MaxMaxLen = 1 << 20
)

// checkNumbers checks every numeric field of c: finite (NaN and ±Inf are
// refused by limits.Float) and in range. The messages name the flags.
func checkNumbers(c *Config) error {
	memory := "upper limit: the memory available"
	for _, err := range []error{
		limits.Int{Min: 1, Max: MaxEpochs}.Check("--epochs", c.Epochs),
		limits.Int{Min: 1, Max: math.MaxInt, Hint: memory}.Check("--batch-size", c.BatchSize),
		limits.Int{Min: 1, Max: math.MaxInt, Hint: memory}.Check("eval batch size", c.EvalBatchSize),
		limits.Int{Min: 0, Max: MaxMaxLen, Hint: "0 = the data set's default; " + memory}.Check("--max-len", c.MaxLen),
		limits.Int{Min: 0, Max: math.MaxInt, Hint: "0 = all"}.Check("--train-limit", c.TrainLimit),
		limits.Int{Min: 0, Max: math.MaxInt, Hint: "0 = all"}.Check("--test-limit", c.TestLimit),
		limits.Float{Min: 0, OpenMin: true, Max: MaxLR}.Check("--lr", c.LR),
		limits.Float{Min: 0, Max: 1, OpenMax: true}.Check("--momentum", c.Momentum),
		limits.Float{Min: 0, Max: MaxWeightDecay}.Check("--weight-decay", c.WeightDecay),
		limits.Float{Min: 0, Max: MaxEpochs, Hint: "in epochs"}.Check("--warmup", c.WarmupEpochs),
		limits.Float{Min: 0, Max: 1, OpenMax: true}.Check("--label-smoothing", c.LabelSmoothing),
		limits.Float{Min: 0, Max: math.MaxFloat64, Hint: "0 disables clipping"}.Check("--clip-grad", c.ClipGradNorm),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
