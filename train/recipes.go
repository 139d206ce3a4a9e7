package train

import (
	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/models"
)

// Recipe returns the default configuration for a model on a data set: the
// settings `mirage train` uses for every flag the user does not give,
// taken from the model's descriptor in reg. An empty dataset picks the
// model's default one. Augmentation is on when the recipe asks for it and
// the data set's source says crop and flip suit its examples.
//
// The shipped recipes are chosen to reach good accuracy in about an hour
// or less on a 2-core machine; README.md gives what they reached here and
// how long they took (ResNet-20 on CIFAR-10, 20 epochs: 85.72%; BERT-small
// on IMDB, 2 epochs: 85.81%). An unknown model gets the generic recipe of
// models.DefaultRecipe, and Validate then names the valid models.
func Recipe(reg mirage.Registries, model, dataset string) Config {
	r := models.DefaultRecipe()
	if reg.Models != nil {
		if d, ok := reg.Models.Lookup(model); ok {
			r = d.Recipe
			if dataset == "" {
				dataset = d.DefaultDataset
			}
		}
	}
	augment := false
	if r.Augment && reg.Datasets != nil {
		if src, ok := reg.Datasets.Lookup(dataset); ok {
			augment = src.Describe().Augment
		}
	}
	return Config{
		Model: model, Dataset: dataset, Backend: "fp32",
		Epochs: r.Epochs, BatchSize: r.BatchSize, EvalBatchSize: r.EvalBatchSize,
		Optimizer: r.Optimizer, LR: r.LR, Momentum: r.Momentum, WeightDecay: r.WeightDecay,
		Schedule: r.Schedule, WarmupEpochs: r.WarmupEpochs, LabelSmoothing: r.LabelSmoothing,
		ClipGradNorm: r.ClipGradNorm, MaxLen: r.MaxLen, Augment: augment,
		Seed: 1, Progress: true,
	}
}
