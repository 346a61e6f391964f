package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// Node is one entry of an image's flattened filesystem, reduced to what decides how the
// container sees it.
type Node struct {
	Type     byte
	Mode     int64
	UID, GID int
	Size     int64
	SHA256   string
	Link     string
}

// Image is an image read back from a tarball: its configuration and the filesystem its
// layers stack up to.
type Image struct {
	Config imageConfig
	Files  map[string]Node
	// Compressed is the size of the config and layer blobs as stored in the tarball.
	Compressed int64
}

// Read reads a docker-archive (manifest.json, as `docker save` writes it) or an OCI image
// layout tarball (index.json) holding exactly one image. Layers may be gzip-compressed;
// whiteouts are applied. Diff IDs are checked against the layers' content.
func Read(r io.Reader) (*Image, error) {
	content := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read tarball: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", hdr.Name, err)
		}
		content[path.Clean(hdr.Name)] = data
	}
	get := func(name string) ([]byte, error) {
		data, ok := content[path.Clean(name)]
		if !ok {
			return nil, fmt.Errorf("tarball has no %s", name)
		}
		return data, nil
	}

	var cfgPath string
	var layerPaths []string
	if mj, ok := content["manifest.json"]; ok {
		var dm []dockerManifest
		if err := json.Unmarshal(mj, &dm); err != nil {
			return nil, fmt.Errorf("decode manifest.json: %w", err)
		}
		if len(dm) != 1 {
			return nil, fmt.Errorf("manifest.json lists %d images, want 1", len(dm))
		}
		cfgPath, layerPaths = dm[0].Config, dm[0].Layers
	} else {
		ij, err := get("index.json")
		if err != nil {
			return nil, err
		}
		var idx index
		if err := json.Unmarshal(ij, &idx); err != nil {
			return nil, fmt.Errorf("decode index.json: %w", err)
		}
		if len(idx.Manifests) == 0 {
			return nil, fmt.Errorf("index.json lists no manifest")
		}
		mj, err := get(blobPath(idx.Manifests[0].Digest))
		if err != nil {
			return nil, err
		}
		var mf manifest
		if err := json.Unmarshal(mj, &mf); err != nil {
			return nil, fmt.Errorf("decode manifest: %w", err)
		}
		cfgPath = blobPath(mf.Config.Digest)
		for _, l := range mf.Layers {
			layerPaths = append(layerPaths, blobPath(l.Digest))
		}
	}

	cj, err := get(cfgPath)
	if err != nil {
		return nil, err
	}
	img := &Image{Files: map[string]Node{}, Compressed: int64(len(cj))}
	if err := json.Unmarshal(cj, &img.Config); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	if len(img.Config.RootFS.DiffIDs) != len(layerPaths) {
		return nil, fmt.Errorf("config lists %d diff IDs for %d layers", len(img.Config.RootFS.DiffIDs), len(layerPaths))
	}
	for i, lp := range layerPaths {
		data, err := get(lp)
		if err != nil {
			return nil, err
		}
		img.Compressed += int64(len(data))
		if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				return nil, fmt.Errorf("decompress %s: %w", lp, err)
			}
			if data, err = io.ReadAll(zr); err != nil {
				return nil, fmt.Errorf("decompress %s: %w", lp, err)
			}
		}
		if got := digestOf(data); got != img.Config.RootFS.DiffIDs[i] {
			return nil, fmt.Errorf("layer %s has diff ID %s, config says %s", lp, got, img.Config.RootFS.DiffIDs[i])
		}
		if err := apply(img.Files, data); err != nil {
			return nil, fmt.Errorf("apply layer %s: %w", lp, err)
		}
	}
	return img, nil
}

// apply stacks one uncompressed layer onto files, honouring whiteouts.
func apply(files map[string]Node, layer []byte) error {
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		name := path.Join("/", hdr.Name)
		dir, base := path.Split(name)
		if base == ".wh..wh..opq" {
			for p := range files {
				if strings.HasPrefix(p, dir) {
					delete(files, p)
				}
			}
			continue
		}
		if strings.HasPrefix(base, ".wh.") {
			gone := path.Join(dir, strings.TrimPrefix(base, ".wh."))
			for p := range files {
				if p == gone || strings.HasPrefix(p, gone+"/") {
					delete(files, p)
				}
			}
			continue
		}
		if name == "/" {
			continue
		}
		n := Node{Type: hdr.Typeflag, Mode: hdr.Mode & 0o7777, UID: hdr.Uid, GID: hdr.Gid, Link: hdr.Linkname}
		if hdr.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				return fmt.Errorf("read %s: %w", name, err)
			}
			n.Size, n.SHA256 = int64(len(data)), digestOf(data)
		}
		files[name] = n
	}
}

// Diff lists, one line each, how b differs from a in what a container would see: the
// files (type, mode, owner, content) and the configuration (user, entrypoint, command,
// environment, working directory, platform). Timestamps and digests are not compared.
func Diff(a, b *Image) []string {
	var out []string
	ca, cb := a.Config, b.Config
	field := func(name string, x, y any) {
		xj, _ := json.Marshal(x)
		yj, _ := json.Marshal(y)
		if !bytes.Equal(xj, yj) {
			out = append(out, fmt.Sprintf("config %s: %s vs %s", name, xj, yj))
		}
	}
	field("User", ca.Config.User, cb.Config.User)
	field("Entrypoint", ca.Config.Entrypoint, cb.Config.Entrypoint)
	field("Cmd", ca.Config.Cmd, cb.Config.Cmd)
	field("Env", ca.Config.Env, cb.Config.Env)
	field("WorkingDir", strings.TrimSuffix(ca.Config.WorkingDir, "/"), strings.TrimSuffix(cb.Config.WorkingDir, "/"))
	field("os/architecture", ca.OS+"/"+ca.Architecture, cb.OS+"/"+cb.Architecture)

	names := map[string]bool{}
	for p := range a.Files {
		names[p] = true
	}
	for p := range b.Files {
		names[p] = true
	}
	sorted := make([]string, 0, len(names))
	for p := range names {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	for _, p := range sorted {
		x, inA := a.Files[p]
		y, inB := b.Files[p]
		switch {
		case !inA:
			out = append(out, fmt.Sprintf("%s: only in the second image", p))
		case !inB:
			out = append(out, fmt.Sprintf("%s: only in the first image", p))
		case x != y:
			out = append(out, fmt.Sprintf("%s: %+v vs %+v", p, x, y))
		}
	}
	return out
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobPath(digest string) string {
	return "blobs/" + strings.Replace(digest, ":", "/", 1)
}
