package models

import (
	"fmt"
	"math/rand/v2"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/layers"
)

// BERTConfig sizes a [BERT] encoder classifier.
type BERTConfig struct {
	Vocab      int     // vocabulary size; id 0 is padding
	MaxLen     int     // longest sequence (size of the position table)
	Hidden     int     // model width D
	Layers     int     // number of encoder layers
	Heads      int     // attention heads; must divide Hidden
	FFN        int     // width of the feed-forward layer
	Dropout    float32 // dropout on embeddings, attention, residual branches and the pooled output
	NumClasses int
	// LayerNormEps is the ε of every LayerNorm (BERT uses 1e-12).
	LayerNormEps float32
}

// DefaultBERTConfig returns a BERT small enough to train on two CPU cores:
// 4 layers, hidden 256, 4 heads, FFN 1024, sequences up to 128 tokens,
// dropout 0.1, two classes. Vocab must still be set.
func DefaultBERTConfig() BERTConfig {
	return BERTConfig{
		MaxLen: 128, Hidden: 256, Layers: 4, Heads: 4, FFN: 1024,
		Dropout: 0.1, NumClasses: 2, LayerNormEps: 1e-12,
	}
}

// Validate reports the first setting that cannot build a model.
func (c BERTConfig) Validate() error {
	for _, f := range []struct {
		name string
		v    int
		min  int
	}{
		{"vocabulary size", c.Vocab, 2}, {"max length", c.MaxLen, 1}, {"hidden size", c.Hidden, 1},
		{"layers", c.Layers, 1}, {"heads", c.Heads, 1}, {"FFN size", c.FFN, 1}, {"classes", c.NumClasses, 2},
	} {
		if f.v < f.min {
			return fmt.Errorf("bert: %s is %d, must be at least %d", f.name, f.v, f.min)
		}
	}
	if c.Hidden%c.Heads != 0 {
		return fmt.Errorf("bert: hidden size %d is not divisible by %d heads; choose a head count that divides it", c.Hidden, c.Heads)
	}
	if c.Dropout < 0 || c.Dropout >= 1 {
		return fmt.Errorf("bert: dropout %g is outside [0, 1)", c.Dropout)
	}
	if !(c.LayerNormEps > 0) {
		return fmt.Errorf("bert: LayerNorm eps %g must be positive", c.LayerNormEps)
	}
	return nil
}

// BERT is a small BERT-style transformer encoder with a classification
// head. Its input is (N, L) token ids stored as float32, 0 = padding, with
// L ≤ MaxLen; its output is (N, classes) logits.
//
//	h = dropout(token_emb(ids) + pos_emb(0..L−1))
//	each layer:  h = h + dropout(attn(LN1(h), mask))
//	             h = h + dropout(fc2(GELU(fc1(LN2(h)))))
//	cls = LN(h[:, 0])                 ([CLS] = first token)
//	logits = classifier(dropout(tanh(pooler(cls))))
//
// It uses pre-LayerNorm (LN inside each residual branch, one final LN), as
// GPT-2 and most recent encoders do, rather than the original post-LN
// BERT: pre-LN trains stably from scratch without a long warm-up, which
// matters for short CPU runs. The attention mask comes from the ids: no
// query attends to a padded key. Every product — the Q/K/V/output
// projections, Q·Kᵀ, attention·V, the FFN, pooler and classifier — goes
// through the tape's backend with a distinct layer name
// (encoder.0.attn.query … encoder.0.attn.qk, encoder.0.attn.av,
// encoder.0.ffn.fc1, …).
//
// Initialisation as in BERT: Linear and embedding weights from N(0, 0.02),
// biases 0, LayerNorm γ=1, β=0.
type BERT struct {
	Config       BERTConfig
	TokenEmbed   *layers.Embedding // "embeddings.token"
	PosEmbed     *layers.Embedding // "embeddings.position"
	EmbedDropout *layers.Dropout
	Encoder      []*EncoderLayer   // "encoder.0", …
	Norm         *layers.LayerNorm // "norm", the final pre-LN norm
	Pooler       *layers.Linear    // "pooler"
	PoolDropout  *layers.Dropout
	Classifier   *layers.Linear // "classifier"
}

// EncoderLayer is one pre-LN transformer encoder layer.
type EncoderLayer struct {
	Norm1    *layers.LayerNorm // name+".norm1"
	Attn     *layers.MultiHeadAttention
	AttnDrop *layers.Dropout
	Norm2    *layers.LayerNorm // name+".norm2"
	FC1      *layers.Linear    // name+".ffn.fc1", Hidden → FFN
	FC2      *layers.Linear    // name+".ffn.fc2", FFN → Hidden
	FFNDrop  *layers.Dropout
}

// NewBERT builds a BERT from cfg, after validating it.
func NewBERT(cfg BERTConfig, rng *rand.Rand) (*BERT, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, eps := cfg.Hidden, cfg.LayerNormEps
	m := &BERT{
		Config:       cfg,
		TokenEmbed:   layers.NewEmbedding("embeddings.token", cfg.Vocab, d, rng),
		PosEmbed:     layers.NewEmbedding("embeddings.position", cfg.MaxLen, d, rng),
		EmbedDropout: layers.NewDropout(cfg.Dropout, rng),
	}
	for i := 0; i < cfg.Layers; i++ {
		name := fmt.Sprintf("encoder.%d", i)
		attn, err := layers.NewMultiHeadAttention(name+".attn", d, cfg.Heads, cfg.Dropout, rng)
		if err != nil {
			return nil, err
		}
		m.Encoder = append(m.Encoder, &EncoderLayer{
			Norm1:    layers.NewLayerNorm(name+".norm1", d, eps),
			Attn:     attn,
			AttnDrop: layers.NewDropout(cfg.Dropout, rng),
			Norm2:    layers.NewLayerNorm(name+".norm2", d, eps),
			FC1:      layers.NewLinear(name+".ffn.fc1", d, cfg.FFN, true, rng),
			FC2:      layers.NewLinear(name+".ffn.fc2", cfg.FFN, d, true, rng),
			FFNDrop:  layers.NewDropout(cfg.Dropout, rng),
		})
	}
	m.Norm = layers.NewLayerNorm("norm", d, eps)
	m.Pooler = layers.NewLinear("pooler", d, d, true, rng)
	m.PoolDropout = layers.NewDropout(cfg.Dropout, rng)
	m.Classifier = layers.NewLinear("classifier", d, cfg.NumClasses, true, rng)

	// BERT's initialisation: N(0, 0.02) weights, zero biases (LayerNorm
	// parameters already are γ=1, β=0).
	const std = 0.02
	layers.InitNormal(m.TokenEmbed.Weight, std, rng)
	layers.InitNormal(m.PosEmbed.Weight, std, rng)
	for _, l := range m.linears() {
		layers.InitNormal(l.Weight, std, rng)
		layers.InitConstant(l.Bias, 0)
	}
	return m, nil
}

func (m *BERT) linears() []*layers.Linear {
	var ls []*layers.Linear
	for _, e := range m.Encoder {
		ls = append(ls, e.Attn.Query, e.Attn.Key, e.Attn.Value, e.Attn.Out, e.FC1, e.FC2)
	}
	return append(ls, m.Pooler, m.Classifier)
}

// Forward implements layers.Module. ids is (N, L) with L ≤ MaxLen.
func (m *BERT) Forward(t *autograd.Tape, ids *autograd.Tensor) *autograd.Tensor {
	if len(ids.Shape()) != 2 || ids.Dim(1) > m.Config.MaxLen || ids.Dim(1) < 1 {
		panic(fmt.Sprintf("models.BERT: input %v, want token ids (N, L) with 1 ≤ L ≤ %d", ids.Shape(), m.Config.MaxLen))
	}
	n, l, d := ids.Dim(0), ids.Dim(1), m.Config.Hidden
	positions := autograd.Zeros(l)
	for i := range positions.Data() {
		positions.Data()[i] = float32(i)
	}
	mask := layers.PaddingMask(ids)
	// (N, L, D) + (L, D) broadcasts the position embedding over the batch.
	h := t.Add(m.TokenEmbed.Forward(t, ids), m.PosEmbed.Forward(t, positions))
	// The encoder works on rows (N·L, D): every projection is a 2-D GEMM.
	h = t.Reshape(m.EmbedDropout.Forward(t, h), n*l, d)
	for _, e := range m.Encoder {
		h = e.forward(t, h, n, mask)
	}
	// Only [CLS] feeds the head, so the final norm runs on it alone.
	cls := t.Reshape(t.Slice(t.Reshape(h, n, l, d), 1, 0, 1), n, d)
	pooled := t.Tanh(m.Pooler.Forward(t, m.Norm.Forward(t, cls)))
	return m.Classifier.Forward(t, m.PoolDropout.Forward(t, pooled))
}

// forward applies the layer to h, n sequences as rows (N·L, D).
func (e *EncoderLayer) forward(t *autograd.Tape, h *autograd.Tensor, n int, mask *autograd.Tensor) *autograd.Tensor {
	a := e.Attn.ForwardRows(t, e.Norm1.Forward(t, h), n, mask)
	h = t.Add(h, e.AttnDrop.Forward(t, a))
	f := e.FC2.Forward(t, t.GELU(e.FC1.Forward(t, e.Norm2.Forward(t, h))))
	return t.Add(h, e.FFNDrop.Forward(t, f))
}

func (e *EncoderLayer) parts() []layers.Module {
	return []layers.Module{e.Norm1, e.Attn, e.AttnDrop, e.Norm2, e.FC1, e.FC2, e.FFNDrop}
}

func (m *BERT) parts() []layers.Module {
	ms := []layers.Module{m.TokenEmbed, m.PosEmbed, m.EmbedDropout}
	for _, e := range m.Encoder {
		ms = append(ms, e.parts()...)
	}
	return append(ms, m.Norm, m.Pooler, m.PoolDropout, m.Classifier)
}

// Params implements layers.Module.
func (m *BERT) Params() []*autograd.Tensor {
	return layers.Collect(layers.Module.Params, m.parts()...)
}

// Generators implements layers.Stochastic: the dropout layers' generators.
func (m *BERT) Generators() []*rand.PCG { return layers.CollectGenerators(m.parts()...) }

// Buffers implements layers.Module.
func (m *BERT) Buffers() []*autograd.Tensor { return nil }

// SetTraining implements layers.Module: dropout is active only in training.
func (m *BERT) SetTraining(training bool) { layers.SetTrainingAll(training, m.parts()...) }

// BERTModel describes the small BERT classifier for a [Registry]: it reads
// token sequences and trains on IMDB by default with AdamW, a cosine
// schedule and gradient clipping.
func BERTModel() Descriptor {
	r := DefaultRecipe()
	r.Epochs, r.BatchSize, r.Optimizer, r.LR, r.WeightDecay = 2, 32, "adamw", 5e-4, 0.01
	r.Schedule, r.WarmupEpochs, r.ClipGradNorm, r.MaxLen = "cosine", 0.1, 1, 128
	r.EvalBatchSize = 100
	return Descriptor{
		Name: "bert", About: "small BERT encoder classifier, pre-LayerNorm, [CLS] pooling",
		Build: buildBERT, Input: datasets.Tokens, DefaultDataset: "imdb",
		Recipe: r,
		Bench:  Spec{InputShape: []int{128}, NumClasses: 2, VocabSize: 8000, Seed: 1},
	}
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
