package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"
)

// Media types of the OCI image specification that this builder writes.
const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayerGz  = "application/vnd.oci.image.layer.v1.tar+gzip"

	// annotationImageName is the full reference containerd's importer names the image by.
	annotationImageName = "io.containerd.image.name"
	// annotationRefName is the OCI image-layout reference (the tag).
	annotationRefName = "org.opencontainers.image.ref.name"
)

// defaultPath is the PATH Docker's builder records for images built FROM scratch; the
// builder records the same so that both ways of building agree.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// File is one regular file of the image's single layer. Its parent directories are created
// with mode 0755, owned by root, like Docker's COPY does.
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
	// Created is recorded in the config and as every file's modification time, so that
	// the same inputs always give the same digests.
	Created time.Time
}

// descriptor is an OCI content descriptor.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// imageConfig is the OCI image configuration (the subset written and compared here).
type imageConfig struct {
	Created      *time.Time      `json:"created,omitempty"`
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Config       containerConfig `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []history `json:"history,omitempty"`
}

type containerConfig struct {
	User       string   `json:"User,omitempty"`
	Env        []string `json:"Env,omitempty"`
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
}

type history struct {
	Created   *time.Time `json:"created,omitempty"`
	CreatedBy string     `json:"created_by,omitempty"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

// dockerManifest is one entry of a docker-archive's manifest.json (what `docker save`
// writes and `docker load` reads).
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// blob is content stored under blobs/sha256/ of the layout.
type blob struct {
	digest string
	data   []byte
}

func newBlob(data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{digest: "sha256:" + hex.EncodeToString(sum[:]), data: data}
}

func (b blob) path() string { return "blobs/sha256/" + strings.TrimPrefix(b.digest, "sha256:") }

func (b blob) descriptor(mediaType string) descriptor {
	return descriptor{MediaType: mediaType, Digest: b.digest, Size: int64(len(b.data))}
}

// Result tells what was written.
type Result struct {
	// Manifest is the digest of the image manifest (what containerd lists as the image's digest).
	Manifest string
	// Compressed is the size of the manifest, config and compressed layer together (what
	// `ctr images ls` and a registry report); Unpacked is the layer's uncompressed size.
	Compressed, Unpacked int64
}

// Build writes the image as one tarball that is both an OCI image layout (oci-layout,
// index.json, blobs/) and a docker-archive (manifest.json pointing into the same blobs), so
// that `ctr images import` and `docker load` both accept it. The same Spec always gives the
// same bytes.
func Build(spec Spec, w io.Writer) (Result, error) {
	if len(spec.Tags) == 0 {
		return Result{}, fmt.Errorf("image needs at least one tag")
	}
	layerTar, err := layer(spec.Files, spec.Created)
	if err != nil {
		return Result{}, fmt.Errorf("write layer: %w", err)
	}
	diffID := newBlob(layerTar).digest
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return Result{}, fmt.Errorf("compress layer: %w", err)
	}
	if _, err := zw.Write(layerTar); err != nil {
		return Result{}, fmt.Errorf("compress layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return Result{}, fmt.Errorf("compress layer: %w", err)
	}
	layerBlob := newBlob(gz.Bytes())

	created := spec.Created.UTC()
	cfg := imageConfig{
		Created:      &created,
		Architecture: spec.Architecture,
		OS:           spec.OS,
		Config: containerConfig{
			User:       spec.User,
			Env:        append([]string{defaultPath}, spec.Env...),
			Entrypoint: spec.Entrypoint,
		},
		History: []history{{Created: &created, CreatedBy: "hack/imagebuild"}},
	}
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []string{diffID}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return Result{}, fmt.Errorf("encode config: %w", err)
	}
	cfgBlob := newBlob(cfgJSON)

	mfJSON, err := json.Marshal(manifest{
		SchemaVersion: 2,
		MediaType:     mediaTypeManifest,
		Config:        cfgBlob.descriptor(mediaTypeConfig),
		Layers:        []descriptor{layerBlob.descriptor(mediaTypeLayerGz)},
	})
	if err != nil {
		return Result{}, fmt.Errorf("encode manifest: %w", err)
	}
	mfBlob := newBlob(mfJSON)

	idx := index{SchemaVersion: 2, MediaType: mediaTypeIndex}
	var repoTags []string
	for _, tag := range spec.Tags {
		d := mfBlob.descriptor(mediaTypeManifest)
		d.Platform = &platform{Architecture: spec.Architecture, OS: spec.OS}
		d.Annotations = map[string]string{annotationImageName: tag, annotationRefName: tagOf(tag)}
		idx.Manifests = append(idx.Manifests, d)
		repoTags = append(repoTags, strings.TrimPrefix(tag, "docker.io/"))
	}
	idxJSON, err := json.Marshal(idx)
	if err != nil {
		return Result{}, fmt.Errorf("encode index: %w", err)
	}
	dockerJSON, err := json.Marshal([]dockerManifest{{
		Config: cfgBlob.path(), RepoTags: repoTags, Layers: []string{layerBlob.path()},
	}})
	if err != nil {
		return Result{}, fmt.Errorf("encode manifest.json: %w", err)
	}

	tw := tar.NewWriter(w)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{cfgBlob.path(), cfgBlob.data},
		{layerBlob.path(), layerBlob.data},
		{mfBlob.path(), mfBlob.data},
		{"index.json", idxJSON},
		{"manifest.json", dockerJSON},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: spec.Created}); err != nil {
			return Result{}, fmt.Errorf("write %s: %w", dir, err)
		}
	}
	for _, e := range entries {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: spec.Created}
		if err := tw.WriteHeader(hdr); err != nil {
			return Result{}, fmt.Errorf("write %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return Result{}, fmt.Errorf("write %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return Result{}, fmt.Errorf("finish tarball: %w", err)
	}
	return Result{
		Manifest:   mfBlob.digest,
		Compressed: int64(len(mfBlob.data) + len(cfgBlob.data) + len(layerBlob.data)),
		Unpacked:   int64(len(layerTar)),
	}, nil
}

// tagOf returns the tag of a reference ("dev" of "docker.io/checkpointed/runner:dev"), or
// "latest" when it has none.
func tagOf(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[i+1:]
	}
	return "latest"
}

// layer returns an uncompressed layer tarball holding files and their parent directories,
// in path order, owned by root, every entry dated mtime.
func layer(files []File, mtime time.Time) ([]byte, error) {
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
