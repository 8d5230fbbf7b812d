package objstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

var _ Store = (*FS)(nil)

// FS is a Store in a directory tree that people and tools can read as it
// is: bucket NAME is the directory root/NAME and object KEY the file
// root/NAME/KEY. What a file cannot carry (content type, user metadata,
// retention) is kept beside it in a hidden sidecar ".BASE.cairn-meta.json",
// which also records the body's ETag so that a sidecar left by an
// unfinished Put is recognised and ignored. Bucket settings live in the
// bucket directory's own sidecar, ".cairn-meta.json". Retained files are
// made read-only (0444) as a signal to people; what refuses changes is
// the retention date in the sidecar.
//
// A directory cannot also be a file, so "a" and "a/b" cannot both exist:
// the second Put fails with ErrKeyConflict.
type FS struct {
	root string
	now  func() time.Time
	// dirs is held shared by Put and exclusively by Delete, which removes
	// directories left empty that a Put may be about to write into.
	dirs sync.RWMutex
	// keys serialise the calls on one key, so that a Put's sidecar and
	// object are seen together; striped to keep memory fixed.
	keys [64]sync.Mutex
	seed maphash.Seed
}

// NewFS returns the store rooted at root; the directory is made on the
// first CreateBucket.
func NewFS(root string) *FS {
	return &FS{root: root, now: time.Now, seed: maphash.MakeSeed()}
}

// sidecar is what an object's hidden sidecar file holds.
type sidecar struct {
	ETag            string            `json:"ETag"`
	Size            int64             `json:"Size"`
	ContentType     string            `json:"ContentType,omitempty"`
	ContentEncoding string            `json:"ContentEncoding,omitempty"`
	Metadata        map[string]string `json:"Metadata,omitempty"`
	RetainUntil     time.Time         `json:"RetainUntil,omitzero"`
	// MTime (Unix ns) and Inode identify the file the sidecar was written
	// for (a rename keeps both), so listing can trust the sidecar without
	// hashing the body. The ETag stays the authority when they differ.
	MTime int64  `json:"MTime,omitempty"`
	Inode uint64 `json:"Inode,omitempty"`
}

// describes reports whether the sidecar was written for this very file.
func (sc *sidecar) describes(st fs.FileInfo) bool {
	return sc.ETag != "" && sc.Size == st.Size() && sc.MTime != 0 &&
		sc.MTime == st.ModTime().UnixNano() && sc.Inode == inode(st)
}

// bucketMeta is what a bucket directory's sidecar holds.
type bucketMeta struct {
	ObjectLock bool      `json:"ObjectLock"`
	Created    time.Time `json:"Created"`
}

// bucketSidecar is the sidecar name of an empty base name, which no key
// element can have, so it never collides with an object's.
const bucketSidecar = sidecarSuffix

func (f *FS) lockKey(bucket, key string) func() {
	var h maphash.Hash
	h.SetSeed(f.seed)
	h.WriteString(bucket)
	h.WriteByte('/')
	h.WriteString(key)
	mu := &f.keys[h.Sum64()%uint64(len(f.keys))]
	mu.Lock()
	return mu.Unlock
}

func (f *FS) bucketDir(bucket string) (string, error) {
	// Valid names are also safe directory names: no separators, no "..".
	if !ValidBucketName(bucket) {
		return "", fmt.Errorf("bucket %q: %w", bucket, ErrNoSuchBucket)
	}
	dir := filepath.Join(f.root, bucket)
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !st.IsDir() {
		return "", fmt.Errorf("bucket %s: %w", bucket, ErrNoSuchBucket)
	}
	if err != nil {
		return "", err
	}
	return dir, nil
}

// objectPaths returns the directory, the object file and its sidecar.
func objectPaths(bdir, key string) (dir, file, meta string) {
	file = filepath.Join(bdir, filepath.FromSlash(key))
	dir, base := filepath.Split(file)
	return filepath.Clean(dir), file, filepath.Join(dir, "."+base+sidecarSuffix)
}

// CreateBucket implements Store.
func (f *FS) CreateBucket(ctx context.Context, bucket string, objectLock bool) error {
	if !ValidBucketName(bucket) {
		return fmt.Errorf("%w: %q", ErrInvalidBucketName, bucket)
	}
	if err := os.MkdirAll(f.root, 0o755); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	dir := filepath.Join(f.root, bucket)
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("bucket %s: %w", bucket, ErrBucketExists)
		}
		return fmt.Errorf("create bucket: %w", err)
	}
	b, err := json.Marshal(bucketMeta{ObjectLock: objectLock, Created: f.now().UTC()})
	if err != nil {
		return err
	}
	if err := writeDurable(dir, bucketSidecar, b, 0o644); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	if err := syncDir(f.root); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	return nil
}

// BucketExists implements Store.
func (f *FS) BucketExists(ctx context.Context, bucket string) (bool, error) {
	_, err := f.bucketDir(bucket)
	if errors.Is(err, ErrNoSuchBucket) {
		return false, nil
	}
	return err == nil, err
}

// Put implements Store: the body goes to a temporary file that is synced,
// then renamed over the key, and the directory synced.
func (f *FS) Put(ctx context.Context, bucket, key string, body []byte, o PutOptions) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	bdir, err := f.bucketDir(bucket)
	if err != nil {
		return err
	}
	if !o.RetainUntil.IsZero() {
		var bm bucketMeta
		if err := readJSON(filepath.Join(bdir, bucketSidecar), &bm); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("put %s/%s: %w", bucket, key, err)
		}
		if !bm.ObjectLock {
			return fmt.Errorf("put %s/%s: %w", bucket, key, ErrNoObjectLock)
		}
	}
	f.dirs.RLock()
	defer f.dirs.RUnlock()
	defer f.lockKey(bucket, key)()

	dir, file, meta := objectPaths(bdir, key)
	if err := mkdirs(bdir, dir); err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	st, err := os.Lstat(file)
	switch {
	case err == nil && st.IsDir():
		return fmt.Errorf("put %s/%s: %w: it is the directory of other keys", bucket, key, ErrKeyConflict)
	case err == nil:
		cur, locked, err := f.retained(file, meta)
		if err != nil {
			return fmt.Errorf("put %s/%s: %w", bucket, key, err)
		}
		if locked {
			if bytes.Equal(cur, body) {
				return nil
			}
			return fmt.Errorf("put %s/%s: %w", bucket, key, ErrObjectLocked)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}

	perm := os.FileMode(0o644)
	if !o.RetainUntil.IsZero() {
		perm = 0o444
	}
	// The body is on disk before the sidecar names it, and the sidecar is
	// in place before the body appears under its key: a crash leaves
	// either the old object or the new one with its metadata.
	tmp, err := writeTemp(dir, filepath.Base(file), body, perm)
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	tst, err := os.Stat(tmp)
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	sc, err := json.Marshal(sidecar{
		ETag: ETag(body), Size: int64(len(body)),
		ContentType: o.ContentType, ContentEncoding: o.ContentEncoding,
		Metadata: lowerKeys(o.Metadata), RetainUntil: o.RetainUntil.UTC(),
		MTime: tst.ModTime().UnixNano(), Inode: inode(tst),
	})
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := writeDurable(dir, filepath.Base(meta), sc, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s/%s: metadata: %w", bucket, key, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	return nil
}

// retained reads an object whose sidecar asks for retention and reports
// whether the retention holds now. A sidecar whose ETag is not the body's
// belongs to a Put that never finished, and that Put was allowed to start
// only because the object it meant to replace was not retained.
func (f *FS) retained(file, meta string) (body []byte, locked bool, err error) {
	var sc sidecar
	if err := readJSON(meta, &sc); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if !f.now().Before(sc.RetainUntil) {
		return nil, false, nil
	}
	body, err = os.ReadFile(file)
	if err != nil {
		return nil, false, err
	}
	return body, ETag(body) == sc.ETag, nil
}

// Get implements Store.
func (f *FS) Get(ctx context.Context, bucket, key string) (*Object, error) {
	r, err := f.Open(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	return r.readAll(bucket)
}

// Head implements Store.
func (f *FS) Head(ctx context.Context, bucket, key string) (ObjectInfo, map[string]string, error) {
	if err := CheckKey(key); err != nil {
		return ObjectInfo{}, nil, err
	}
	bdir, err := f.bucketDir(bucket)
	if err != nil {
		return ObjectInfo{}, nil, err
	}
	defer f.lockKey(bucket, key)()
	_, file, meta := objectPaths(bdir, key)
	st, err := os.Lstat(file)
	if err != nil {
		return ObjectInfo{}, nil, notFound(bucket, key, err)
	}
	if !st.Mode().IsRegular() {
		return ObjectInfo{}, nil, fmt.Errorf("%s/%s: %w", bucket, key, ErrNotFound)
	}
	info, sc, err := describe(key, file, meta, st)
	if err != nil {
		return ObjectInfo{}, nil, fmt.Errorf("head %s/%s: %w", bucket, key, err)
	}
	return info, sc.Metadata, nil
}

// describe builds an object's listing entry. The sidecar's ETag is
// trusted when the sidecar names this very file, so that listing does not
// read every body; other files (copied in by hand, or replaced by a Put
// that did not finish) are hashed.
func describe(key, file, meta string, st fs.FileInfo) (ObjectInfo, sidecar, error) {
	info := ObjectInfo{Key: key, Size: st.Size(), LastModified: st.ModTime().UTC()}
	var sc sidecar
	if err := readJSON(meta, &sc); err == nil && sc.describes(st) {
		info.ETag = sc.ETag
		return info, sc, nil
	}
	body, err := os.ReadFile(file)
	if err != nil {
		return ObjectInfo{}, sidecar{}, err
	}
	info.ETag = ETag(body)
	if sc.ETag != info.ETag {
		sc = sidecar{}
	}
	return info, sc, nil
}

// List implements Store. A directory's entries are walked in the order of
// the keys they hold, not of their names: the files "a-b" and "a.b" come
// before the directory "a", because '-' and '.' sort before '/'.
func (f *FS) List(ctx context.Context, bucket, prefix, startAfter string, max int) ([]ObjectInfo, error) {
	bdir, err := f.bucketDir(bucket)
	if err != nil {
		return nil, err
	}
	limit := listLimit(max)
	var out []ObjectInfo
	type entry struct {
		sortKey, name string
		dir           bool
		info          fs.FileInfo
	}
	var walk func(dir, keyPrefix string) (bool, error)
	walk = func(dir, keyPrefix string) (bool, error) {
		if err := ctx.Err(); err != nil {
			return true, err
		}
		des, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return false, nil // removed by a Delete since we read its parent
			}
			return true, err
		}
		ents := make([]entry, 0, len(des))
		for _, de := range des {
			name := de.Name()
			if hidden(name) {
				continue
			}
			switch {
			case de.IsDir():
				ents = append(ents, entry{sortKey: keyPrefix + name + "/", name: name, dir: true})
			case de.Type().IsRegular():
				ents = append(ents, entry{sortKey: keyPrefix + name, name: name})
			}
		}
		sort.Slice(ents, func(i, j int) bool { return ents[i].sortKey < ents[j].sortKey })
		for _, e := range ents {
			inRange := strings.HasPrefix(e.sortKey, prefix)
			if !inRange && e.sortKey > prefix && !strings.HasPrefix(prefix, e.sortKey) {
				return true, nil // past every key with the prefix
			}
			if e.dir {
				// Every key below starts with sortKey: skip the subtree when
				// all of them are outside the prefix or not after startAfter.
				if !inRange && !strings.HasPrefix(prefix, e.sortKey) {
					continue
				}
				if e.sortKey < startAfter && !strings.HasPrefix(startAfter, e.sortKey) {
					continue
				}
				if done, err := walk(filepath.Join(dir, e.name), e.sortKey); done || err != nil {
					return true, err
				}
				continue
			}
			if !inRange || e.sortKey <= startAfter || CheckKey(e.sortKey) != nil {
				continue
			}
			file := filepath.Join(dir, e.name)
			st, err := os.Lstat(file)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return true, err
			}
			info, _, err := describe(e.sortKey, file, filepath.Join(dir, "."+e.name+sidecarSuffix), st)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return true, err
			}
			out = append(out, info)
			if len(out) == limit {
				return true, nil
			}
		}
		return false, nil
	}
	if _, err := walk(bdir, ""); err != nil {
		return nil, fmt.Errorf("list %s: %w", bucket, err)
	}
	return out, nil
}

// Delete implements Store. Directories left empty are removed, as S3 has
// none, so that their names are free for objects again.
func (f *FS) Delete(ctx context.Context, bucket, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	bdir, err := f.bucketDir(bucket)
	if err != nil {
		return err
	}
	f.dirs.Lock()
	defer f.dirs.Unlock()
	defer f.lockKey(bucket, key)()
	dir, file, meta := objectPaths(bdir, key)
	st, err := os.Lstat(file)
	if err != nil {
		if errors.Is(notFound(bucket, key, err), ErrNotFound) {
			return nil
		}
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	if !st.Mode().IsRegular() {
		return nil
	}
	_, locked, err := f.retained(file, meta)
	if err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	if locked {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, ErrObjectLocked)
	}
	if err := os.Remove(file); err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	if err := os.Remove(meta); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s/%s: metadata: %w", bucket, key, err)
	}
	for dir != bdir && os.Remove(dir) == nil {
		dir = filepath.Dir(dir)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	return nil
}

func notFound(bucket, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%s/%s: %w", bucket, key, ErrNotFound)
	}
	return err
}

// mkdirs makes the directories from bdir down to dir, syncing the parent
// of each one it makes so that a Put that returned survives a crash.
func mkdirs(bdir, dir string) error {
	rel, err := filepath.Rel(bdir, dir)
	if err != nil || rel == "." {
		return err
	}
	cur := bdir
	for _, e := range strings.Split(rel, string(filepath.Separator)) {
		parent := cur
		cur = filepath.Join(cur, e)
		err := os.Mkdir(cur, 0o755)
		switch {
		case err == nil:
			if err := syncDir(parent); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrExist):
			if st, err := os.Stat(cur); err != nil {
				return err
			} else if !st.IsDir() {
				return fmt.Errorf("%w: %s is an object", ErrKeyConflict, filepath.ToSlash(mustRel(bdir, cur)))
			}
		case errors.Is(err, syscall.ENOTDIR):
			return fmt.Errorf("%w: %s is an object", ErrKeyConflict, filepath.ToSlash(mustRel(bdir, parent)))
		default:
			return err
		}
	}
	return nil
}

func mustRel(base, p string) string {
	r, err := filepath.Rel(base, p)
	if err != nil {
		return p
	}
	return r
}

// writeTemp writes data to a new hidden temporary file in dir and syncs it.
func writeTemp(dir, base string, data []byte, perm os.FileMode) (string, error) {
	fh, err := os.CreateTemp(dir, "."+base+tempInfix+"*")
	if err != nil {
		return "", err
	}
	name := fh.Name()
	_, err = fh.Write(data)
	if err == nil {
		err = fh.Sync()
	}
	if err == nil {
		err = fh.Chmod(perm)
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// writeDurable replaces dir/base with data so that either the old or the
// new content is there after a crash, and the new one once it returns.
func writeDurable(dir, base string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(dir, base, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, base)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// syncDir makes the directory's entries (renames, new files) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
