package main

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	. "github.com/onsi/gomega"
)

func testSpec() Spec {
	return Spec{
		Tags: []string{"docker.io/checkpointed/runner:dev"},
		Files: []File{
			{Path: "/runner", Mode: 0o755, Data: []byte("\x7fELF not really")},
			{Path: "/etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Data: []byte("-----BEGIN CERTIFICATE-----\n")},
		},
		Entrypoint: []string{"/runner"}, User: "65532:65532",
		OS: "linux", Architecture: "amd64", Created: time.Unix(0, 0).UTC(),
	}
}

// build builds spec and writes it as an OCI layout tarball.
func build(g *WithT, spec Spec) (v1.Image, []byte) {
	img, err := Build(spec)
	g.Expect(err).NotTo(HaveOccurred())
	var buf bytes.Buffer
	g.Expect(WriteLayout(&buf, img, spec.Tags, spec.Created)).To(Succeed())
	return img, buf.Bytes()
}

// untar unpacks a tarball into a new directory and returns the directory and the names of
// its entries in tarball order.
func untar(t *testing.T, g *WithT, data []byte) (string, []string) {
	dir := t.TempDir()
	var names []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir, names
		}
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(hdr.Uid).To(BeZero(), hdr.Name)
		g.Expect(hdr.ModTime.Unix()).To(BeZero(), hdr.Name)
		names = append(names, hdr.Name)
		p := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if hdr.Typeflag == tar.TypeDir {
			g.Expect(os.MkdirAll(p, 0o755)).To(Succeed())
			continue
		}
		b, err := io.ReadAll(tr)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(os.WriteFile(p, b, 0o644)).To(Succeed())
	}
}

// fsEntry is one entry of an image's flattened filesystem.
type fsEntry struct {
	hdr  *tar.Header
	data []byte
}

// filesystem returns the filesystem a container of img sees, by absolute path.
func filesystem(g *WithT, img v1.Image) map[string]fsEntry {
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]fsEntry{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		g.Expect(err).NotTo(HaveOccurred())
		b, err := io.ReadAll(tr)
		g.Expect(err).NotTo(HaveOccurred())
		out[path.Join("/", hdr.Name)] = fsEntry{hdr: hdr, data: b}
	}
}

func TestBuildReadsBackFromOCILayout(t *testing.T) {
	g := NewWithT(t)
	spec := testSpec()
	built, tarball := build(g, spec)
	dir, names := untar(t, g, tarball)
	g.Expect(names).To(ContainElements("oci-layout", "index.json", "blobs/", "blobs/sha256/"))
	for _, n := range names {
		g.Expect(n).To(Or(Equal("oci-layout"), Equal("index.json"), HavePrefix("blobs/")))
	}

	// What `ctr images import` reads: index.json names the image by its full reference.
	idx, err := layout.ImageIndexFromPath(dir)
	g.Expect(err).NotTo(HaveOccurred())
	im, err := idx.IndexManifest()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(im.Manifests).To(HaveLen(1))
	desc := im.Manifests[0]
	g.Expect(desc.MediaType).To(Equal(types.OCIManifestSchema1))
	g.Expect(desc.Annotations).To(HaveKeyWithValue(annotationImageName, "docker.io/checkpointed/runner:dev"))
	g.Expect(desc.Annotations).To(HaveKeyWithValue(annotationRefName, "dev"))
	g.Expect(desc.Platform).To(Equal(&v1.Platform{OS: "linux", Architecture: "amd64"}))
	wantDigest, err := built.Digest()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(desc.Digest).To(Equal(wantDigest))

	img, err := idx.Image(desc.Digest)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(validate.Image(img)).To(Succeed(), "digests, sizes and diff IDs agree")
	cfg, err := img.ConfigFile()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Config.User).To(Equal("65532:65532"))
	g.Expect(cfg.Config.Entrypoint).To(Equal([]string{"/runner"}))
	g.Expect(cfg.Config.Cmd).To(BeEmpty())
	g.Expect(cfg.Config.Env).To(Equal([]string{defaultPath}))
	g.Expect(cfg.Created.Unix()).To(BeZero())
	g.Expect(cfg.OS + "/" + cfg.Architecture).To(Equal("linux/amd64"))
	layers, err := img.Layers()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(layers).To(HaveLen(1))
	mt, err := layers[0].MediaType()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(mt).To(Equal(types.OCILayer))

	files := filesystem(g, img)
	// /etc, /etc/ssl, /etc/ssl/certs and the two files: no shell, no /tmp, nothing else.
	g.Expect(files).To(HaveLen(5))
	g.Expect(files).NotTo(HaveKey("/bin/sh"))
	g.Expect(files).NotTo(HaveKey("/tmp"))
	for p, f := range files {
		g.Expect(f.hdr.Uid).To(BeZero(), p)
		g.Expect(f.hdr.Gid).To(BeZero(), p)
		g.Expect(f.hdr.ModTime.Unix()).To(BeZero(), p)
	}
	g.Expect(files["/runner"].hdr.Mode).To(Equal(int64(0o755)))
	g.Expect(files["/runner"].data).To(Equal(spec.Files[0].Data))
	g.Expect(files["/etc/ssl/certs/ca-certificates.crt"].hdr.Mode).To(Equal(int64(0o644)))
	g.Expect(files["/etc/ssl/certs/ca-certificates.crt"].data).To(Equal(spec.Files[1].Data))
	g.Expect(files["/etc/ssl/certs"].hdr.Typeflag).To(Equal(byte(tar.TypeDir)))
	g.Expect(files["/etc/ssl/certs"].hdr.Mode).To(Equal(int64(0o755)))
}

func TestBuildHasNoShell(t *testing.T) {
	g := NewWithT(t)
	img, _ := build(g, testSpec())
	for p := range filesystem(g, img) {
		g.Expect(path.Base(p)).NotTo(BeElementOf("sh", "bash", "ash", "dash", "busybox"), p)
		g.Expect(strings.HasPrefix(p, "/bin") || strings.HasPrefix(p, "/usr")).To(BeFalse(), p)
	}
}

func TestBuildIsReproducible(t *testing.T) {
	g := NewWithT(t)
	a, ta := build(g, testSpec())
	b, tb := build(g, testSpec())
	da, err := a.Digest()
	g.Expect(err).NotTo(HaveOccurred())
	db, err := b.Digest()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(da).To(Equal(db))
	g.Expect(ta).To(Equal(tb))

	later := testSpec()
	later.Created = time.Unix(1700000000, 0)
	c, _ := build(g, later)
	dc, err := c.Digest()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(dc).NotTo(Equal(da), "the creation time is recorded")
}

func TestBuildRejects(t *testing.T) {
	for name, mutate := range map[string]func(*Spec){
		"relative path":     func(s *Spec) { s.Files[0].Path = "runner" },
		"unclean path":      func(s *Spec) { s.Files[0].Path = "/etc/../runner" },
		"duplicate file":    func(s *Spec) { s.Files[1].Path = "/runner" },
		"file is directory": func(s *Spec) { s.Files[0].Path = "/etc/ssl" },
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			spec := testSpec()
			mutate(&spec)
			_, err := Build(spec)
			g.Expect(err).To(HaveOccurred())
		})
	}
}

func TestWriteLayoutRejects(t *testing.T) {
	g := NewWithT(t)
	img, err := Build(testSpec())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(WriteLayout(io.Discard, img, nil, time.Unix(0, 0))).NotTo(Succeed(), "no tag")
	g.Expect(WriteLayout(io.Discard, img, []string{"docker.io/checkpointed/runner"}, time.Unix(0, 0))).NotTo(Succeed(), "no explicit tag")
}

func TestSizeLimit(t *testing.T) {
	g := NewWithT(t)
	spec := testSpec()
	random := make([]byte, 2<<20) // incompressible: the layer stays above 2 MB
	_, err := rand.Read(random)
	g.Expect(err).NotTo(HaveOccurred())
	spec.Files[0].Data = random
	img, err := Build(spec)
	g.Expect(err).NotTo(HaveOccurred())
	size, err := SizeOf(img)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(size.Compressed).To(BeNumerically(">", 2<<20))
	g.Expect(size.Unpacked).To(BeNumerically(">", 2<<20))

	g.Expect(CheckLimit(size, 1)).To(MatchError(ContainSubstring("more than the limit of 1 MB")))
	g.Expect(CheckLimit(size, 3)).To(Succeed())
	g.Expect(CheckLimit(size, 0)).To(Succeed(), "0 is no limit")
}

func TestRunWritesReproduciblyAndRefusesAboveTheLimit(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("SOURCE_DATE_EPOCH", "")
	dir := t.TempDir()
	bin := filepath.Join(dir, "runner")
	random := make([]byte, 2<<20)
	_, err := rand.Read(random)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(bin, random, 0o755)).To(Succeed())
	tags := []string{"docker.io/checkpointed/runner:dev"}
	files := []string{bin + "=/runner"}

	var outputs [][]byte
	for _, name := range []string{"a.tar", "b.tar"} {
		out := filepath.Join(dir, name)
		g.Expect(run(out, out+".digest", tags, files, nil, "/runner", "65532:65532", "amd64", 3)).To(Succeed())
		data, err := os.ReadFile(out)
		g.Expect(err).NotTo(HaveOccurred())
		outputs = append(outputs, data)
	}
	g.Expect(outputs[0]).To(Equal(outputs[1]))
	// The digest file pins the first tag's repository by the image's digest, the same for
	// both builds.
	da, err := os.ReadFile(filepath.Join(dir, "a.tar.digest"))
	g.Expect(err).NotTo(HaveOccurred())
	db, err := os.ReadFile(filepath.Join(dir, "b.tar.digest"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(da)).To(MatchRegexp(`^docker\.io/checkpointed/runner@sha256:[0-9a-f]{64}\n$`))
	g.Expect(da).To(Equal(db))

	out := filepath.Join(dir, "big.tar")
	g.Expect(run(out, "", tags, files, nil, "/runner", "65532:65532", "amd64", 1)).To(MatchError(ContainSubstring("more than the limit")))
	g.Expect(out).NotTo(BeAnExistingFile())
}
