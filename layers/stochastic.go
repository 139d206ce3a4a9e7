package layers

import "math/rand/v2"

// Stochastic is implemented by modules whose Forward draws random numbers
// in training mode (dropout, and any module that contains one). Generators
// lists the generators in a stable order, so that a training checkpoint can
// save their positions (rand.PCG implements encoding.BinaryMarshaler) and a
// resumed run restore them: the masks drawn after a resume are then the
// ones an uninterrupted run would have drawn.
//
// Like io.WriterTo it is an optional capability, checked with a type
// assertion; a module that draws nothing does not implement it. A composite
// that contains a Stochastic module must implement it too, usually with
// [CollectGenerators] over its parts.
type Stochastic interface {
	Generators() []*rand.PCG
}

// Generators returns m's random generators, or nil when m draws none.
func Generators(m Module) []*rand.PCG {
	if s, ok := m.(Stochastic); ok {
		return s.Generators()
	}
	return nil
}

// CollectGenerators concatenates the generators of modules, in order.
func CollectGenerators(modules ...Module) []*rand.PCG {
	var out []*rand.PCG
	for _, m := range modules {
		out = append(out, Generators(m)...)
	}
	return out
}

// Generators implements Stochastic.
func (d *Dropout) Generators() []*rand.PCG { return []*rand.PCG{d.src} }

// Generators implements Stochastic: the generators of the children that
// have any, in order.
func (s *Sequential) Generators() []*rand.PCG { return CollectGenerators(s.Layers...) }
