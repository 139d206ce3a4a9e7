// Package models builds the networks mirage trains: an MLP, LeNet-5, the
// CIFAR ResNet-20 and ResNet-18, and a small BERT encoder classifier.
//
// Every model is a [layers.Module] whose parameters carry PyTorch
// state_dict names, so weights saved as safetensors load into an equivalent
// PyTorch definition. [New] builds a model by name from a [Spec], the
// shape of one example as a data set reports it:
//
//	m, err := models.New("resnet20", models.Spec{InputShape: []int{3, 32, 32}, NumClasses: 10, Seed: 1})
//
// Image models take (N, C, H, W) batches; BERT takes (N, L) batches of
// float32-encoded token ids with 0 as padding. All return (N, classes)
// logits. [Predict] runs a model on a gorgonia.org/tensor Dense (float32
// images, or integer token ids) and returns the logits as one.
package models

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/mirage-go/mirage/layers"
)

// Spec describes what a model must fit: the data's example shape and
// classes, and the seed of its initialisation.
type Spec struct {
	// InputShape is the shape of one example: (C, H, W) for images, (L)
	// for token sequences.
	InputShape []int
	// NumClasses is the number of output logits.
	NumClasses int
	// VocabSize is the tokenizer's vocabulary size, ids included 0
	// (padding); only sequence models use it.
	VocabSize int
	// Seed makes initialisation (and BERT's dropout masks) reproducible.
	Seed uint64

	// MLPHidden overrides the MLP's hidden sizes (default 256, 128).
	MLPHidden []int
	// BERT sets BERT's sizes; nil means [DefaultBERTConfig]. Vocab, MaxLen
	// and NumClasses are always taken from the spec (VocabSize,
	// InputShape[0], NumClasses).
	BERT *BERTConfig
}

// builders maps each model name to its constructor, in the order listed
// by [Names].
var builders = []struct {
	name  string
	about string
	build func(Spec, *rand.Rand) (layers.Module, error)
}{
	{"mlp", "multi-layer perceptron with ReLU (default hidden sizes 256, 128)", buildMLP},
	{"lenet", "LeNet-5 with ReLU and max-pooling (61,706 parameters on 1x28x28, 10 classes)", buildLeNet},
	{"resnet20", "CIFAR ResNet-20 of He et al., option-A shortcuts (269,722 parameters, 10 classes)", buildResNet20},
	{"resnet18", "ResNet-18, CIFAR variant: 3x3 stem, no max-pool (11,173,962 parameters, 10 classes)", buildResNet18},
	{"bert", "small BERT encoder classifier, pre-LayerNorm, [CLS] pooling", buildBERT},
}

// Names lists the valid model names.
func Names() []string {
	names := make([]string, len(builders))
	for i, b := range builders {
		names[i] = b.name
	}
	return names
}

// Describe returns a one-line description of a model name, or "" for an
// unknown name.
func Describe(name string) string {
	for _, b := range builders {
		if b.name == name {
			return b.about
		}
	}
	return ""
}

// New builds the named model for spec. An unknown name, or a spec the model
// cannot take (wrong input rank, too small an image, missing vocabulary),
// is an error saying what to change.
func New(name string, spec Spec) (layers.Module, error) {
	for _, b := range builders {
		if b.name != name {
			continue
		}
		if spec.NumClasses < 2 {
			return nil, fmt.Errorf("model %s: need at least 2 classes, got %d", name, spec.NumClasses)
		}
		rng := rand.New(rand.NewPCG(spec.Seed, 0x6d69726167652d6d)) // "mirage-m"
		return b.build(spec, rng)
	}
	return nil, fmt.Errorf("unknown model %q (valid: %s)", name, strings.Join(Names(), ", "))
}

// imageShape checks that spec describes (C, H, W) images.
func imageShape(model string, spec Spec) (c, h, w int, err error) {
	s := spec.InputShape
	if len(s) != 3 || s[0] < 1 || s[1] < 1 || s[2] < 1 {
		return 0, 0, 0, fmt.Errorf("model %s needs images of shape (C, H, W), got input shape %v; use an image data set", model, s)
	}
	return s[0], s[1], s[2], nil
}

func buildMLP(spec Spec, rng *rand.Rand) (layers.Module, error) {
	if len(spec.InputShape) == 0 {
		return nil, fmt.Errorf("model mlp: input shape is empty")
	}
	in := 1
	for _, d := range spec.InputShape {
		if d < 1 {
			return nil, fmt.Errorf("model mlp: bad input shape %v", spec.InputShape)
		}
		in *= d
	}
	hidden := spec.MLPHidden
	if hidden == nil {
		hidden = []int{256, 128}
	}
	return NewMLP(in, hidden, spec.NumClasses, rng)
}

func buildLeNet(spec Spec, rng *rand.Rand) (layers.Module, error) {
	c, h, w, err := imageShape("lenet", spec)
	if err != nil {
		return nil, err
	}
	return NewLeNet5(c, h, w, spec.NumClasses, rng)
}

func buildResNet20(spec Spec, rng *rand.Rand) (layers.Module, error) {
	c, h, w, err := imageShape("resnet20", spec)
	if err != nil {
		return nil, err
	}
	if h < 4 || w < 4 {
		return nil, fmt.Errorf("model resnet20: images of %dx%d are too small (it halves the resolution twice; need at least 4x4)", h, w)
	}
	return NewResNet20(c, spec.NumClasses, rng), nil
}

func buildResNet18(spec Spec, rng *rand.Rand) (layers.Module, error) {
	c, h, w, err := imageShape("resnet18", spec)
	if err != nil {
		return nil, err
	}
	if h < 8 || w < 8 {
		return nil, fmt.Errorf("model resnet18: images of %dx%d are too small (it halves the resolution three times; need at least 8x8)", h, w)
	}
	return NewResNet18(c, spec.NumClasses, rng), nil
}

func buildBERT(spec Spec, rng *rand.Rand) (layers.Module, error) {
	if len(spec.InputShape) != 1 || spec.InputShape[0] < 1 {
		return nil, fmt.Errorf("model bert needs token sequences of shape (L), got input shape %v; use a text data set", spec.InputShape)
	}
	if spec.VocabSize < 2 {
		return nil, fmt.Errorf("model bert: vocabulary size %d is too small; the spec must carry the tokenizer's vocabulary size", spec.VocabSize)
	}
	cfg := DefaultBERTConfig()
	if spec.BERT != nil {
		cfg = *spec.BERT
	}
	cfg.Vocab = spec.VocabSize
	cfg.MaxLen = spec.InputShape[0]
	cfg.NumClasses = spec.NumClasses
	return NewBERT(cfg, rng)
}
