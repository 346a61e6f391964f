// Command imagebuild packs prebuilt static binaries into single-layer OCI images without
// any container daemon, and compares images read back from tarballs.
//
// Build one image (the tarball is an OCI image layout and a docker-archive at once, so
// `ctr -n k8s.io images import` and `docker load` both take it):
//
//	imagebuild -o dist/runner.tar -tag docker.io/checkpointed/runner:dev \
//	  -file bin/runner=/runner -file /etc/ssl/certs/ca-certificates.crt=/etc/ssl/certs/ca-certificates.crt \
//	  -entrypoint /runner -user 65532:65532 -max-size 30
//
// Compare two image tarballs (for example one from this builder and one from `docker save`):
//
//	imagebuild -compare dist/runner.tar dist/docker/runner.tar
//
// Output is reproducible: the same inputs give the same digests (every timestamp is
// $SOURCE_DATE_EPOCH, or 0).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var (
		out, user, entrypoint, arch string
		tags, files, env            listFlag
		maxMB                       float64
		compare                     bool
	)
	flag.StringVar(&out, "o", "", "Write the image tarball here.")
	flag.Var(&tags, "tag", "Full image reference, e.g. docker.io/checkpointed/runner:dev (repeatable).")
	flag.Var(&files, "file", "SRC=DST: put the host file SRC at DST in the image; mode 0755 when SRC is executable, else 0644 (repeatable).")
	flag.StringVar(&entrypoint, "entrypoint", "", "Path of the command the container runs.")
	flag.StringVar(&user, "user", "65532:65532", "uid:gid the container runs as.")
	flag.Var(&env, "env", "NAME=value added to the image's environment after PATH (repeatable).")
	flag.StringVar(&arch, "arch", runtime.GOARCH, "Architecture of the binaries.")
	flag.Float64Var(&maxMB, "max-size", 0, "Fail when the image (manifest, config and compressed layer) exceeds this many MB (0: no limit).")
	flag.BoolVar(&compare, "compare", false, "Compare the two image tarballs given as arguments and exit 1 when they differ.")
	flag.Parse()

	if compare {
		if flag.NArg() != 2 {
			fail(fmt.Errorf("-compare needs two tarballs"))
		}
		os.Exit(runCompare(flag.Arg(0), flag.Arg(1)))
	}
	if out == "" || entrypoint == "" || len(files) == 0 {
		fail(fmt.Errorf("-o, -entrypoint and at least one -file are required"))
	}
	created, err := sourceDate()
	if err != nil {
		fail(err)
	}
	spec := Spec{
		Tags: tags, Entrypoint: []string{entrypoint}, User: user, Env: env,
		OS: "linux", Architecture: arch, Created: created,
	}
	for _, f := range files {
		src, dst, ok := strings.Cut(f, "=")
		if !ok {
			fail(fmt.Errorf("-file %q: want SRC=DST", f))
		}
		data, err := os.ReadFile(src)
		if err != nil {
			fail(fmt.Errorf("read %s: %w", src, err))
		}
		st, err := os.Stat(src)
		if err != nil {
			fail(fmt.Errorf("stat %s: %w", src, err))
		}
		mode := int64(0o644)
		if st.Mode()&0o111 != 0 {
			mode = 0o755
		}
		spec.Files = append(spec.Files, File{Path: dst, Mode: mode, Data: data})
	}

	var buf bytes.Buffer
	res, err := Build(spec, &buf)
	if err != nil {
		fail(fmt.Errorf("build %s: %w", out, err))
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		fail(fmt.Errorf("create %s: %w", filepath.Dir(out), err))
	}
	// Write next to the target and rename, so a failed run never leaves half a tarball.
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		fail(fmt.Errorf("write %s: %w", tmp, err))
	}
	if err := os.Rename(tmp, out); err != nil {
		fail(fmt.Errorf("rename %s: %w", tmp, err))
	}
	const mb = 1 << 20
	fmt.Printf("%s: %s %s, %.1f MB (compressed), %.1f MB unpacked\n",
		out, strings.Join(tags, " "), res.Manifest, float64(res.Compressed)/mb, float64(res.Unpacked)/mb)
	if maxMB > 0 && float64(res.Compressed) > maxMB*mb {
		fail(fmt.Errorf("%s is %.1f MB, more than the limit of %.0f MB", out, float64(res.Compressed)/mb, maxMB))
	}
}

// runCompare prints the differences between two image tarballs and returns the exit code.
func runCompare(a, b string) int {
	ia, err := readFile(a)
	if err != nil {
		fail(err)
	}
	ib, err := readFile(b)
	if err != nil {
		fail(err)
	}
	diffs := Diff(ia, ib)
	for _, d := range diffs {
		fmt.Println(d)
	}
	if len(diffs) > 0 {
		fmt.Printf("%s and %s differ in %d ways\n", a, b, len(diffs))
		return 1
	}
	fmt.Printf("%s and %s: same files, owners, modes and config (%d entries)\n", a, b, len(ia.Files))
	return 0
}

func readFile(name string) (*Image, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open image: %w", err)
	}
	defer f.Close()
	img, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", name, err)
	}
	return img, nil
}

// sourceDate is $SOURCE_DATE_EPOCH (seconds) or the Unix epoch.
func sourceDate() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	s, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", v, err)
	}
	return time.Unix(s, 0).UTC(), nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "imagebuild:", err)
	os.Exit(2)
}
