// Package cifar reads CIFAR-10 (60,000 32×32 colour images in ten classes,
// 50,000 for training and 10,000 for testing) in the two forms it is found
// in, and serves it as a [datasets.Dataset].
//
// # Forms
//
// The official binary form is six files, data_batch_1.bin … data_batch_5.bin
// and test_batch.bin, each a run of 10,000 records of 3,073 bytes: one label
// byte (0–9) and then the 32×32 red plane, green plane and blue plane, row
// by row. They come in cifar-10-binary.tar.gz (folder cifar-10-batches-bin/),
// which [Fetcher] downloads and checks against its published MD5.
//
// The image-folder form is one folder per class under train/ and test/:
//
//	train/airplane/0000.jpg
//	train/automobile/...
//	test/truck/0999.png
//
// PNG or JPEG, any number of leading folders (the shared archive has a
// cifar10-jpeg/ prefix). [Load] reads either form from a directory or
// straight from a .tar or .tar.gz without unpacking it. JPEG decoding is
// spread over GOMAXPROCS goroutines while one goroutine streams the archive;
// pixels are kept as bytes (3,072 per image, 184 MB for all of CIFAR-10) and
// turned into float32 only when an example is asked for.
//
// # Bad input
//
// Anything that makes the whole read untrustworthy is an error that says
// which file and what to do: a truncated archive or batch file, a label
// byte above 9, a class folder that is not one of the ten classes, a split
// with no images. A single image that cannot be used (it does not decode,
// it is not 32×32, it is not a .jpg/.jpeg/.png, it is not at
// split/class/file) is skipped, and the skip is counted in [Data.Skipped]
// with the reasons for the first few, for the caller to print. Nothing is
// skipped silently.
//
// # Examples
//
// [Set.Example] returns an image as (3, 32, 32) float32, each channel
// normalised with the usual CIFAR-10 training-set statistics ([Mean], [Std]).
// A training set ([Data.Train]) given a random source applies the standard
// augmentation: pad 4 zero (black) pixels on every side, crop a random 32×32
// window, and flip horizontally with probability 1/2. The test set never
// augments.
package cifar

import (
	"fmt"
	"math/rand/v2"

	"github.com/mirage-go/mirage/datasets"
)

// Image geometry. An image is stored as ImageBytes bytes: the red plane,
// then green, then blue, each Height rows of Width bytes.
const (
	Channels   = 3
	Height     = 32
	Width      = 32
	ImageBytes = Channels * Height * Width
	// recordBytes is one record of the binary form: label byte + image.
	recordBytes = 1 + ImageBytes
	// NumClasses is the number of CIFAR-10 classes.
	NumClasses = 10
	// cropPadding is how far a training crop may move: the image is padded by
	// this many black pixels on each side before a 32×32 window is cut.
	cropPadding = 4
)

// Classes returns the CIFAR-10 class names in label order (label 0 is
// "airplane"). These are also the folder names of the image-folder form.
func Classes() []string {
	return []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
}

// Mean returns the per-channel (R, G, B) mean of the CIFAR-10 training
// images on a 0–1 scale, the statistics used for normalisation.
func Mean() [Channels]float32 { return [Channels]float32{0.4914, 0.4822, 0.4465} }

// Std returns the per-channel (R, G, B) standard deviation of the CIFAR-10
// training images on a 0–1 scale.
func Std() [Channels]float32 { return [Channels]float32{0.2470, 0.2435, 0.2616} }

// Images is a list of CIFAR-10 images with their labels.
type Images struct {
	// Pixels holds one ImageBytes slice per image, planes R, G, B.
	Pixels [][]byte
	// Labels holds one label in [0, NumClasses) per image.
	Labels []uint8
}

// Len is the number of images.
func (im Images) Len() int { return len(im.Labels) }

// Set is one part of CIFAR-10 (training or test) as a [datasets.Dataset].
type Set struct {
	images  Images
	augment bool
	// scale and shift turn a byte v of channel c into (v/255-mean)/std as
	// v*scale[c] + shift[c], one multiply-add per pixel.
	scale, shift [Channels]float32
}

// NewSet wraps images as a data set. With augment set, Example applies the
// random crop and flip whenever it is given a random source.
func NewSet(images Images, augment bool) *Set {
	s := &Set{images: images, augment: augment}
	mean, std := Mean(), Std()
	for c := range Channels {
		s.scale[c] = 1 / (255 * std[c])
		s.shift[c] = -mean[c] / std[c]
	}
	return s
}

// Len is the number of images.
func (s *Set) Len() int { return s.images.Len() }

// Shape is [3 32 32].
func (s *Set) Shape() []int { return []int{Channels, Height, Width} }

// Classes returns the ten class names.
func (s *Set) Classes() []string { return Classes() }

// Augments reports whether Example applies random crops and flips when given
// a random source.
func (s *Set) Augments() bool { return s.augment }

// Images returns the stored images. The slices are shared, not copied:
// do not modify them.
func (s *Set) Images() Images { return s.images }

// Example writes image i, normalised, into dst (length 3·32·32) and returns
// its label. See the package documentation for the augmentation.
func (s *Set) Example(i int, dst []float32, rng *rand.Rand) int {
	if len(dst) != ImageBytes {
		panic(fmt.Sprintf("cifar: Example needs a destination of %d floats, got %d", ImageBytes, len(dst)))
	}
	pix := s.images.Pixels[i]
	label := int(s.images.Labels[i])
	if rng == nil || !s.augment {
		for c := range Channels {
			plane := pix[c*Height*Width : (c+1)*Height*Width]
			out := dst[c*Height*Width : (c+1)*Height*Width]
			scale, shift := s.scale[c], s.shift[c]
			for j, v := range plane {
				out[j] = float32(v)*scale + shift
			}
		}
		return label
	}
	// Output pixel (y, x) comes from source pixel (y+dy, x+dx) of the
	// unpadded image, or is padding (black) when that falls outside it.
	dy := rng.IntN(2*cropPadding+1) - cropPadding
	dx := rng.IntN(2*cropPadding+1) - cropPadding
	flip := rng.IntN(2) == 1
	for c := range Channels {
		plane := pix[c*Height*Width : (c+1)*Height*Width]
		out := dst[c*Height*Width : (c+1)*Height*Width]
		scale, shift := s.scale[c], s.shift[c]
		for y := range Height {
			row := out[y*Width : (y+1)*Width]
			sy := y + dy
			if sy < 0 || sy >= Height {
				for x := range row {
					row[x] = shift // a black pixel, normalised
				}
				continue
			}
			src := plane[sy*Width : (sy+1)*Width]
			for x := range row {
				// With a flip, output column x shows what column Width-1-x
				// of the unflipped crop would.
				cx := x
				if flip {
					cx = Width - 1 - x
				}
				sx := cx + dx
				if sx < 0 || sx >= Width {
					row[x] = shift
				} else {
					row[x] = float32(src[sx])*scale + shift
				}
			}
		}
	}
	return label
}

// Data is CIFAR-10 as read from one source.
type Data struct {
	// Train (augmenting) and Test (not augmenting) are the two parts.
	Train, Test *Set
	// Source says what was read, e.g. "image folders in /x/cifar10-jpeg.tar.gz".
	Source string
	// Skipped counts the files passed over while reading; see the package
	// documentation. Callers should print it when Count > 0.
	Skipped Skipped
}

// Split returns the data as a [datasets.Split] named "cifar10".
func (d *Data) Split() datasets.Split {
	return datasets.Split{Name: "cifar10", Train: d.Train, Test: d.Test}
}

// Skipped counts the files a loader passed over; see [datasets.Skipped].
type Skipped = datasets.Skipped

// skippedFiles returns an empty count of skipped files.
func skippedFiles() Skipped { return Skipped{Noun: "file(s)"} }
