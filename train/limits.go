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

// Ranges are the ranges of a training configuration's numbers, one per
// setting, for checking a configuration (Config.Validate) and for parsing
// the flags that set them (mirage's flags use the same ranges, so a bad
// value is refused as it is read, in the same words).
type Ranges struct {
	Epochs, BatchSize, EvalBatchSize, MaxLen, TrainLimit, TestLimit       limits.Int
	LR, Momentum, WeightDecay, WarmupEpochs, LabelSmoothing, ClipGradNorm limits.Float
}

// NumberRanges returns the ranges of a training configuration's numbers.
func NumberRanges() Ranges {
	memory := "upper limit: the memory available"
	return Ranges{
		Epochs:         limits.Int{Min: 1, Max: MaxEpochs},
		BatchSize:      limits.Int{Min: 1, Max: math.MaxInt, Hint: memory},
		EvalBatchSize:  limits.Int{Min: 1, Max: math.MaxInt, Hint: memory},
		MaxLen:         limits.Int{Min: 0, Max: MaxMaxLen, Hint: "0 = the data set's default; " + memory},
		TrainLimit:     limits.Int{Min: 0, Max: math.MaxInt, Hint: "0 = all"},
		TestLimit:      limits.Int{Min: 0, Max: math.MaxInt, Hint: "0 = all"},
		LR:             limits.Float{Min: 0, OpenMin: true, Max: MaxLR},
		Momentum:       limits.Float{Min: 0, Max: 1, OpenMax: true},
		WeightDecay:    limits.Float{Min: 0, Max: MaxWeightDecay},
		WarmupEpochs:   limits.Float{Min: 0, Max: MaxEpochs, Hint: "in epochs"},
		LabelSmoothing: limits.Float{Min: 0, Max: 1, OpenMax: true},
		ClipGradNorm:   limits.Float{Min: 0, Max: math.MaxFloat64, Hint: "0 disables clipping"},
	}
}

// checkNumbers checks every numeric field of c: finite (NaN and ±Inf are
// refused by limits.Float) and in range. The messages name the flags.
func checkNumbers(c *Config) error {
	r := NumberRanges()
	for _, err := range []error{
		r.Epochs.Check("--epochs", c.Epochs),
		r.BatchSize.Check("--batch-size", c.BatchSize),
		r.EvalBatchSize.Check("eval batch size", c.EvalBatchSize),
		r.MaxLen.Check("--max-len", c.MaxLen),
		r.TrainLimit.Check("--train-limit", c.TrainLimit),
		r.TestLimit.Check("--test-limit", c.TestLimit),
		r.LR.Check("--lr", c.LR),
		r.Momentum.Check("--momentum", c.Momentum),
		r.WeightDecay.Check("--weight-decay", c.WeightDecay),
		r.WarmupEpochs.Check("--warmup", c.WarmupEpochs),
		r.LabelSmoothing.Check("--label-smoothing", c.LabelSmoothing),
		r.ClipGradNorm.Check("--clip-grad", c.ClipGradNorm),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
