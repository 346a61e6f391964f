package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

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

// tarEntries returns the names and contents of a tarball's regular files.
func tarEntries(g *WithT, data []byte) map[string][]byte {
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		g.Expect(err).NotTo(HaveOccurred())
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		g.Expect(err).NotTo(HaveOccurred())
		out[hdr.Name] = b
	}
}

func TestBuildReadsBackAsOCIAndDockerArchive(t *testing.T) {
	g := NewWithT(t)
	var buf bytes.Buffer
	res, err := Build(testSpec(), &buf)
	g.Expect(err).NotTo(HaveOccurred())

	entries := tarEntries(g, buf.Bytes())
	g.Expect(entries).To(HaveKey("oci-layout"))
	g.Expect(entries).To(HaveKey("manifest.json"))
	var idx index
	g.Expect(json.Unmarshal(entries["index.json"], &idx)).To(Succeed())
	g.Expect(idx.Manifests).To(HaveLen(1))
	g.Expect(idx.Manifests[0].Digest).To(Equal(res.Manifest))
	g.Expect(idx.Manifests[0].Annotations).To(HaveKeyWithValue(annotationImageName, "docker.io/checkpointed/runner:dev"))
	g.Expect(idx.Manifests[0].Annotations).To(HaveKeyWithValue(annotationRefName, "dev"))
	// Every blob is stored under its own digest.
	for name, data := range entries {
		if len(name) > len("blobs/sha256/") && name[:len("blobs/sha256/")] == "blobs/sha256/" {
			g.Expect(digestOf(data)).To(Equal("sha256:"+name[len("blobs/sha256/"):]), name)
		}
	}
	var dm []dockerManifest
	g.Expect(json.Unmarshal(entries["manifest.json"], &dm)).To(Succeed())
	g.Expect(dm).To(HaveLen(1))
	g.Expect(dm[0].RepoTags).To(Equal([]string{"checkpointed/runner:dev"}))

	// Read through index.json (OCI) and through manifest.json (docker): the same image.
	oci := map[string][]byte{}
	for k, v := range entries {
		if k != "manifest.json" {
			oci[k] = v
		}
	}
	for _, tarball := range [][]byte{buf.Bytes(), writeTar(g, oci)} {
		img, err := Read(bytes.NewReader(tarball))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(img.Config.Config.User).To(Equal("65532:65532"))
		g.Expect(img.Config.Config.Entrypoint).To(Equal([]string{"/runner"}))
		g.Expect(img.Files).To(HaveLen(5)) // /etc, /etc/ssl, /etc/ssl/certs and the two files
		g.Expect(img.Files["/runner"].Mode).To(Equal(int64(0o755)))
		g.Expect(img.Files["/runner"].UID).To(Equal(0))
		g.Expect(img.Files["/etc/ssl/certs"].Type).To(Equal(byte(tar.TypeDir)))
		g.Expect(img.Files).NotTo(HaveKey("/tmp"))
		g.Expect(img.Compressed).To(BeNumerically(">", 0))
	}
}

func writeTar(g *WithT, files map[string][]byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		g.Expect(tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data))})).To(Succeed())
		_, err := tw.Write(data)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(tw.Close()).To(Succeed())
	return buf.Bytes()
}

func TestBuildIsReproducible(t *testing.T) {
	g := NewWithT(t)
	var a, b bytes.Buffer
	ra, err := Build(testSpec(), &a)
	g.Expect(err).NotTo(HaveOccurred())
	rb, err := Build(testSpec(), &b)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ra.Manifest).To(Equal(rb.Manifest))
	g.Expect(a.Bytes()).To(Equal(b.Bytes()))
}

func TestBuildRejects(t *testing.T) {
	for name, mutate := range map[string]func(*Spec){
		"no tag":            func(s *Spec) { s.Tags = nil },
		"relative path":     func(s *Spec) { s.Files[0].Path = "runner" },
		"unclean path":      func(s *Spec) { s.Files[0].Path = "/etc/../runner" },
		"duplicate file":    func(s *Spec) { s.Files[1].Path = "/runner" },
		"file is directory": func(s *Spec) { s.Files[0].Path = "/etc/ssl" },
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			spec := testSpec()
			mutate(&spec)
			_, err := Build(spec, io.Discard)
			g.Expect(err).To(HaveOccurred())
		})
	}
}

func TestDiff(t *testing.T) {
	g := NewWithT(t)
	read := func(s Spec) *Image {
		var buf bytes.Buffer
		_, err := Build(s, &buf)
		g.Expect(err).NotTo(HaveOccurred())
		img, err := Read(&buf)
		g.Expect(err).NotTo(HaveOccurred())
		return img
	}
	base := read(testSpec())
	later := testSpec()
	later.Created = time.Unix(1700000000, 0)
	g.Expect(Diff(base, read(later))).To(BeEmpty(), "timestamps are not compared")

	other := testSpec()
	other.User = "0:0"
	other.Files[0].Mode = 0o700
	other.Files[1].Data = []byte("different")
	g.Expect(Diff(base, read(other))).To(ConsistOf(
		ContainSubstring("config User"),
		HavePrefix("/runner:"),
		HavePrefix("/etc/ssl/certs/ca-certificates.crt:"),
	))
}

func TestTagOf(t *testing.T) {
	g := NewWithT(t)
	g.Expect(tagOf("docker.io/checkpointed/runner:dev")).To(Equal("dev"))
	g.Expect(tagOf("localhost:5000/runner")).To(Equal("latest"))
	g.Expect(tagOf("registry.k8s.io/pause:3.10")).To(Equal("3.10"))
}
