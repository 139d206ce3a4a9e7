package backend

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Blocks hold whole images and, but for the last, a multiple of
// ConvTileAlign rows, whatever the image size.
func TestImagesPerBlockAlignment(t *testing.T) {
	for _, positions := range []int{1, 64, 100, 256, 784, 1024, 4096, 12544} {
		for _, width := range []int{1, 25, 144, 576, 4608} {
			n := imagesPerBlock(positions, width)
			require.GreaterOrEqual(t, n, 1)
			require.Zero(t, n*positions%ConvTileAlign, "positions %d width %d: %d images", positions, width, n)
		}
	}
}
