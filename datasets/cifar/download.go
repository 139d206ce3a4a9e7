package cifar

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/mirage-go/mirage/internal/atomicfile"
	"github.com/mirage-go/mirage/internal/checksum"
)

// The official binary archive and its published MD5 checksum.
const (
	OfficialBaseURL  = "https://www.cs.toronto.edu/~kriz"
	BinaryArchiveMD5 = "c32a1d4ab5d03f1284b67883e8d87530"
	// JPEGArchiveSHA256 is the SHA-256 of the shared cifar10-jpeg.tar.gz
	// (all 60,000 images as JPEG, quality 75) this project tests with.
	JPEGArchiveSHA256 = "efac85c8ed52f4ead1e1f1b670d8dcf435d551fccebdd8b6365e0a01a504f3a4"
)

// Fetcher downloads the binary archive into a cache directory.
type Fetcher struct {
	// BaseURL is where BinaryArchiveName is fetched from (BaseURL + "/" +
	// BinaryArchiveName).
	BaseURL string
	// MD5 is the archive's expected MD5 checksum, lower-case hex.
	MD5 string
	// Client makes the request; nil means http.DefaultClient.
	Client *http.Client
}

// OfficialFetcher fetches the official archive and checks it against the
// published checksum.
func OfficialFetcher() Fetcher {
	return Fetcher{BaseURL: OfficialBaseURL, MD5: BinaryArchiveMD5}
}

// CachedArchive returns the path where Fetch puts the archive in cacheDir.
func CachedArchive(cacheDir string) string { return filepath.Join(cacheDir, BinaryArchiveName) }

// Fetch makes sure cacheDir holds the verified archive and returns its path.
// A file already there whose checksum matches is kept; otherwise the archive
// is downloaded into a temporary file in cacheDir, checked, and only then
// renamed into place, so an interrupted or corrupted download never leaves
// a file that looks complete.
func (f Fetcher) Fetch(ctx context.Context, cacheDir string) (string, error) {
	dst := CachedArchive(cacheDir)
	if sum, err := FileMD5(dst); err == nil && sum == f.MD5 {
		return dst, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("cifar10: creating the cache directory: %w", err)
	}
	url := strings.TrimSuffix(f.BaseURL, "/") + "/" + BinaryArchiveName
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("cifar10: %w", err)
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("cifar10: downloading %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("cifar10: downloading %s: server answered %s", url, resp.Status)
	}
	err = atomicfile.Write(dst, func(w io.Writer) error {
		hash := md5.New()
		if _, err := io.Copy(io.MultiWriter(w, hash), resp.Body); err != nil {
			return fmt.Errorf("downloading %s: %w", url, err)
		}
		if sum := hex.EncodeToString(hash.Sum(nil)); sum != f.MD5 {
			return fmt.Errorf("%s has MD5 %s, want %s: the download is corrupt or not the "+
				"CIFAR-10 binary archive; try again", url, sum, f.MD5)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("cifar10: %w", err)
	}
	return dst, nil
}

// FileMD5 returns the MD5 checksum of the file at p as lower-case hex.
func FileMD5(p string) (string, error) {
	sums, err := checksum.File(p, md5.New())
	if err != nil {
		return "", err
	}
	return sums[0], nil
}
