// Command imagebuild packs prebuilt static binaries into single-layer FROM-scratch images
// with github.com/google/go-containerregistry, without any container daemon.
//
// Build one image, written as a tarball of an OCI image layout (what
// `ctr -n k8s.io images import` takes):
//
//	imagebuild -o dist/runner.tar -tag docker.io/checkpointed/runner:dev \
//	  -file bin/runner=/runner -file /etc/ssl/certs/ca-certificates.crt=/etc/ssl/certs/ca-certificates.crt \
//	  -entrypoint /runner -user 65532:65532 -max-size 30
//
// Output is reproducible: the same inputs give the same bytes (every timestamp is
// $SOURCE_DATE_EPOCH, or 0). An image above -max-size is not written.
package main

import (
	"bytes"
	"errors"
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
		digestFile                  string
		tags, files, env            listFlag
		maxMB                       float64
	)
	flag.StringVar(&out, "o", "", "Write the image tarball here.")
	flag.StringVar(&digestFile, "digest-file", "", "Also write the first tag's repository pinned by the image's digest (repo@sha256:...) to this file.")
	flag.Var(&tags, "tag", "Full image reference, e.g. docker.io/checkpointed/runner:dev (repeatable).")
	flag.Var(&files, "file", "SRC=DST: put the host file SRC at DST in the image; mode 0755 when SRC is executable, else 0644 (repeatable).")
	flag.StringVar(&entrypoint, "entrypoint", "", "Path of the command the container runs.")
	flag.StringVar(&user, "user", "65532:65532", "uid:gid the container runs as.")
	flag.Var(&env, "env", "NAME=value added to the image's environment after PATH (repeatable).")
	flag.StringVar(&arch, "arch", runtime.GOARCH, "Architecture of the binaries.")
	flag.Float64Var(&maxMB, "max-size", 0, "Fail, writing nothing, when the image (manifest, config and compressed layer) exceeds this many MB (0: no limit).")
	flag.Parse()

	if out == "" || entrypoint == "" || len(files) == 0 || len(tags) == 0 {
		fail(errors.New("-o, -entrypoint, at least one -tag and at least one -file are required"))
	}
	if err := run(out, digestFile, tags, files, env, entrypoint, user, arch, maxMB); err != nil {
		fail(err)
	}
}

// run builds the image and writes it to out.
func run(out, digestFile string, tags, files, env []string, entrypoint, user, arch string, maxMB float64) error {
	created, err := sourceDate()
	if err != nil {
		return err
	}
	spec := Spec{
		Tags: tags, Entrypoint: []string{entrypoint}, User: user, Env: env,
		OS: "linux", Architecture: arch, Created: created,
	}
	for _, f := range files {
		src, dst, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("-file %q: want SRC=DST", f)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("read %s: %w", src, err)
		}
		st, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("stat %s: %w", src, err)
		}
		mode := int64(0o644)
		if st.Mode()&0o111 != 0 {
			mode = 0o755
		}
		spec.Files = append(spec.Files, File{Path: dst, Mode: mode, Data: data})
	}

	img, err := Build(spec)
	if err != nil {
		return fmt.Errorf("build %s: %w", out, err)
	}
	size, err := SizeOf(img)
	if err != nil {
		return fmt.Errorf("size of %s: %w", out, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("digest of %s: %w", out, err)
	}
	const mb = 1 << 20
	fmt.Printf("%s: %s %s, %.1f MB (compressed), %.1f MB unpacked\n",
		out, strings.Join(tags, " "), digest, float64(size.Compressed)/mb, float64(size.Unpacked)/mb)
	if err := CheckLimit(size, maxMB); err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	var buf bytes.Buffer
	if err := WriteLayout(&buf, img, tags, created); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(out), err)
	}
	// Write next to the target and rename, so a failed run never leaves half a tarball.
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if digestFile != "" && len(tags) > 0 {
		if err := os.WriteFile(digestFile, []byte(DigestRef(tags[0], digest.String())+"\n"), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", digestFile, err)
		}
	}
	return nil
}

// DigestRef is ref's repository pinned by digest: "docker.io/checkpointed/runner:dev" and
// "sha256:ab…" give "docker.io/checkpointed/runner@sha256:ab…" (a registry port is kept).
func DigestRef(ref, digest string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref + "@" + digest
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
