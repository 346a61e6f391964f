package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// annotationImageName is the full reference containerd's importer names the image by
	// (`ctr images import` falls back to an "import-<date>" prefix without it).
	annotationImageName = "io.containerd.image.name"
	// annotationRefName is the OCI image-layout reference (the tag).
	annotationRefName = "org.opencontainers.image.ref.name"
)

// defaultPath is the PATH Docker's builder records for images built FROM scratch; the
// builder records the same so that the Dockerfile and this builder agree.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// File is one regular file of the image's single layer, owned by root. Its parent
// directories are created with mode 0755, owned by root, like Docker's COPY does.
type File struct {
	// Path is the absolute path inside the image.
	Path string
	// Mode holds the permission bits.
	Mode int64
	// Data is the file's content.
	Data []byte
}

// Spec describes an image of one layer: its files, how it starts and under which names it
// is imported.
type Spec struct {
	// Tags are full references such as docker.io/checkpointed/runner:dev; at least one.
	Tags []string
	// Files make up the layer; owned by root:root.
	Files []File
	// Entrypoint is the command the container runs.
	Entrypoint []string
	// User is "uid:gid" the container runs as.
	User string
	// Env holds extra environment variables (NAME=value) after PATH.
	Env []string
	// OS and Architecture are the platform of the binaries inside.
	OS, Architecture string
	// Created is recorded in the config, as every file's modification time and as the
	// tarball entries' modification time, so that the same inputs always give the same bytes.
	Created time.Time
}

// Size tells how large an image is.
type Size struct {
	// Compressed is the size of the manifest, config and compressed layers together (what
	// `ctr images ls` and a registry report).
	Compressed int64
	// Unpacked is the size of the uncompressed layers.
	Unpacked int64
}

// Build returns the image spec describes: FROM scratch (empty.Image) plus one gzip layer
// holding spec.Files, with OCI media types.
func Build(spec Spec) (v1.Image, error) {
	layerTar, err := layerTarball(spec.Files, spec.Created)
	if err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	layer, err := tarball.LayerFromOpener(
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil },
		tarball.WithMediaType(types.OCILayer),
		tarball.WithCompressionLevel(gzip.BestCompression),
		tarball.WithCompressedCaching,
	)
	if err != nil {
		return nil, fmt.Errorf("create layer: %w", err)
	}
	created := v1.Time{Time: spec.Created.UTC()}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: created, CreatedBy: "hack/imagebuild"},
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Created = created
	cfg.OS, cfg.Architecture = spec.OS, spec.Architecture
	cfg.Config.User = spec.User
	cfg.Config.Entrypoint = spec.Entrypoint
	cfg.Config.Env = append([]string{defaultPath}, spec.Env...)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

// SizeOf returns the compressed and unpacked sizes of img.
func SizeOf(img v1.Image) (Size, error) {
	mf, err := img.Manifest()
	if err != nil {
		return Size{}, fmt.Errorf("read manifest: %w", err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return Size{}, fmt.Errorf("read manifest: %w", err)
	}
	s := Size{Compressed: int64(len(raw)) + mf.Config.Size}
	layers, err := img.Layers()
	if err != nil {
		return Size{}, fmt.Errorf("read layers: %w", err)
	}
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return Size{}, fmt.Errorf("layer size: %w", err)
		}
		s.Compressed += n
		rc, err := l.Uncompressed()
		if err != nil {
			return Size{}, fmt.Errorf("read layer: %w", err)
		}
		n, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return Size{}, fmt.Errorf("read layer: %w", err)
		}
		s.Unpacked += n
	}
	return s, nil
}

// CheckLimit fails when the compressed size is above maxMB megabytes (0: no limit).
func CheckLimit(s Size, maxMB float64) error {
	const mb = 1 << 20
	if maxMB > 0 && float64(s.Compressed) > maxMB*mb {
		return fmt.Errorf("image is %.1f MB compressed, more than the limit of %g MB", float64(s.Compressed)/mb, maxMB)
	}
	return nil
}

// WriteLayout writes img to w as a tarball of an OCI image layout (oci-layout, index.json,
// blobs/sha256/), what `ctr images import` reads. index.json lists the image once per tag,
// annotated with the full reference (io.containerd.image.name) and the tag
// (org.opencontainers.image.ref.name). Every entry is owned by root and dated mtime, in
// name order, so the same image always gives the same bytes.
func WriteLayout(w io.Writer, img v1.Image, tags []string, mtime time.Time) error {
	if len(tags) == 0 {
		return errors.New("image needs at least one tag")
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var idx v1.ImageIndex = empty.Index
	for _, t := range tags {
		tag, err := name.NewTag(t, name.StrictValidation)
		if err != nil {
			return fmt.Errorf("tag %q: %w", t, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture},
			Annotations: map[string]string{annotationImageName: t, annotationRefName: tag.TagStr()},
		}})
	}
	dir, err := os.MkdirTemp("", "imagebuild-")
	if err != nil {
		return fmt.Errorf("create layout directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if _, err := layout.Write(dir, idx); err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	if err := tarDir(w, dir, mtime); err != nil {
		return fmt.Errorf("pack OCI layout: %w", err)
	}
	return nil
}

// tarDir writes the files and directories under dir to w, in name order, owned by root,
// directories 0755 and files 0644, every entry dated mtime.
func tarDir(w io.Writer, dir string, mtime time.Time) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mtime, Typeflag: tar.TypeReg, Mode: 0o644}
		var data []byte
		if d.IsDir() {
			hdr.Name, hdr.Typeflag, hdr.Mode = hdr.Name+"/", tar.TypeDir, 0o755
		} else if data, err = os.ReadFile(p); err != nil {
			return err
		}
		hdr.Size = int64(len(data))
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write %s: %w", hdr.Name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return fmt.Errorf("write %s: %w", hdr.Name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// layerTarball returns an uncompressed layer tarball holding files and their parent
// directories, in path order, owned by root, every entry dated mtime.
func layerTarball(files []File, mtime time.Time) ([]byte, error) {
	dirs := map[string]bool{}
	seen := map[string]bool{}
	for _, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return nil, fmt.Errorf("file path %q must be absolute and clean", f.Path)
		}
		if seen[f.Path] {
			return nil, fmt.Errorf("file %s given twice", f.Path)
		}
		seen[f.Path] = true
		for d := path.Dir(f.Path); d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	type entry struct {
		hdr  *tar.Header
		data []byte
	}
	var entries []entry
	for d := range dirs {
		if seen[d] {
			return nil, fmt.Errorf("%s is both a file and a directory", d)
		}
		entries = append(entries, entry{hdr: &tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: 0o755}})
	}
	for _, f := range files {
		entries = append(entries, entry{
			hdr:  &tar.Header{Typeflag: tar.TypeReg, Name: f.Path[1:], Mode: f.Mode, Size: int64(len(f.Data))},
			data: f.Data,
		})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].hdr.Name < entries[j].hdr.Name })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		e.hdr.ModTime = mtime
		if err := tw.WriteHeader(e.hdr); err != nil {
			return nil, fmt.Errorf("write %s: %w", e.hdr.Name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("write %s: %w", e.hdr.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("finish layer: %w", err)
	}
	return buf.Bytes(), nil
}
