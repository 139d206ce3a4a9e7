package train

import (
	"fmt"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/optim"
)

// newOptimizer builds the optimizer and a learning-rate function of the
// global step for a run of totalSteps steps.
func newOptimizer(cfg Config, params []*autograd.Tensor, totalSteps int) (optim.Optimizer, func(step int) float64, error) {
	var opt optim.Optimizer
	var err error
	// Biases and normalisation scales/shifts are exempt from weight decay,
	// the usual recipe for both optimizers.
	switch cfg.Optimizer {
	case "sgd":
		opt, err = optim.NewSGD(params, optim.SGDConfig{
			LR: cfg.LR, Momentum: cfg.Momentum, WeightDecay: cfg.WeightDecay,
			Nesterov: cfg.Momentum > 0, NoDecay: optim.Vectors,
		})
	case "adamw":
		c := optim.DefaultAdamWConfig(cfg.LR)
		c.WeightDecay, c.NoDecay = cfg.WeightDecay, optim.Vectors
		opt, err = optim.NewAdamW(params, c)
	default:
		return nil, nil, fmt.Errorf("unknown optimizer %q", cfg.Optimizer)
	}
	if err != nil {
		return nil, nil, err
	}
	stepsPerEpoch := float64(totalSteps) / float64(cfg.Epochs)
	warmup := int(cfg.WarmupEpochs * stepsPerEpoch)
	var sched optim.Schedule
	switch cfg.Schedule {
	case "constant":
		sched = optim.Constant(cfg.LR)
	case "cosine":
		sched = optim.Cosine(cfg.LR, 0, totalSteps)
	case "step":
		// Divide by 10 at 50% and 75% of training, the classic ResNet recipe.
		sched = optim.MultiStep(cfg.LR, []int{totalSteps / 2, totalSteps * 3 / 4}, 0.1)
	case "onecycle":
		sched = optim.OneCycle(cfg.LR, totalSteps)
	default:
		return nil, nil, fmt.Errorf("unknown schedule %q", cfg.Schedule)
	}
	if warmup > 0 && cfg.Schedule != "onecycle" {
		sched = optim.Warmup(sched, warmup)
	}
	return opt, sched.LR, nil
}
