// Package models builds the networks mirage trains: an MLP, LeNet-5, the
// CIFAR ResNet-20 and ResNet-18, and a small BERT encoder classifier.
//
// Every model is a [layers.Module] whose parameters carry PyTorch
// state_dict names, so weights saved as safetensors load into an equivalent
// PyTorch definition. Each model is described by a [Descriptor] (its
// builder, input kind, default data set, training recipe and benchmark
// input), and a [Registry] holds the descriptors a program knows by name.
// mirage.Default assembles the registry of the models shipped here; a
// program adds its own model by registering one more descriptor (see the
// example of [Registry.Register]). [Registry.New] builds a model by name
// from a [Spec], the shape of one example as a data set reports it:
//
//	m, err := reg.New("resnet20", models.Spec{InputShape: []int{3, 32, 32}, NumClasses: 10, Seed: 1})
//
// Image models take (N, C, H, W) batches; BERT takes (N, L) batches of
// float32-encoded token ids with 0 as padding. All return (N, classes)
// logits. [Predict] runs a model on a gorgonia.org/tensor Dense (float32
// images, or integer token ids) and returns the logits as one.
package models

import "fmt"

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

// imageShape checks that spec describes (C, H, W) images.
func imageShape(model string, spec Spec) (c, h, w int, err error) {
	s := spec.InputShape
	if len(s) != 3 || s[0] < 1 || s[1] < 1 || s[2] < 1 {
		return 0, 0, 0, fmt.Errorf("model %s needs images of shape (C, H, W), got input shape %v; use an image data set", model, s)
	}
	return s[0], s[1], s[2], nil
}
