package objstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
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
// made read-only (0400) as a signal to people; what refuses changes is
// the retention date in the sidecar. Directories are made 0700 and files
// 0600: a bucket is for the user cairn runs as.
//
// Only directories and regular files are objects. Every path is resolved
// one element at a time from the bucket's directory (os.Root), and a
// symbolic link, a pipe, a device or a socket, wherever it is in the path,
// is neither followed nor opened: a link placed in a bucket cannot serve a
// file from outside it, not even from another bucket, and listings pass
// over it.
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

// openBucket opens the bucket's directory; every path below is resolved
// from it, so nothing outside the bucket is ever reached.
func (f *FS) openBucket(bucket string) (*os.Root, error) {
	// Valid names are also safe directory names: no separators, no "..".
	if !ValidBucketName(bucket) {
		return nil, fmt.Errorf("bucket %q: %w", bucket, ErrNoSuchBucket)
	}
	top, err := os.OpenRoot(f.root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("bucket %s: %w", bucket, ErrNoSuchBucket)
		}
		return nil, err
	}
	defer top.Close()
	b, err := openDir(top, bucket)
	if err != nil {
		if missing(err) {
			return nil, fmt.Errorf("bucket %s: %w", bucket, ErrNoSuchBucket)
		}
		return nil, err
	}
	return b, nil
}

// keyPath is the chain of directories from a bucket down to the one that
// holds a key's file, each opened by openDir.
type keyPath struct {
	dirs  []*os.Root // dirs[0] is the bucket, dirs[i+1] is dirs[i]/names[i]
	names []string
	base  string // the key's last element: the file's name
}

// walkKey opens the directories of key below bucket b. With create, it
// makes those that are missing, syncing the parent of each. The caller
// closes the result, which does not close b.
func walkKey(b *os.Root, key string, create bool) (*keyPath, error) {
	elems := strings.Split(key, "/")
	p := &keyPath{dirs: []*os.Root{b}, base: elems[len(elems)-1]}
	for i, name := range elems[:len(elems)-1] {
		cur := p.dir()
		if create {
			if err := cur.Mkdir(name, dirPerm); err == nil {
				if err := syncDir(cur); err != nil {
					p.close()
					return nil, err
				}
			} else if !errors.Is(err, fs.ErrExist) {
				p.close()
				return nil, err
			}
		}
		next, err := openDir(cur, name)
		if err != nil {
			p.close()
			if create && !errors.Is(err, fs.ErrNotExist) && missing(err) {
				return nil, fmt.Errorf("%w: %s is not a directory", ErrKeyConflict, strings.Join(elems[:i+1], "/"))
			}
			return nil, err
		}
		p.dirs = append(p.dirs, next)
		p.names = append(p.names, name)
	}
	return p, nil
}

// dir is the directory that holds the key's file.
func (p *keyPath) dir() *os.Root { return p.dirs[len(p.dirs)-1] }

func (p *keyPath) close() {
	for _, d := range p.dirs[1:] {
		d.Close()
	}
}

// metaName is the name of the sidecar of the file named base.
func metaName(base string) string { return "." + base + sidecarSuffix }

// CreateBucket implements Store.
func (f *FS) CreateBucket(ctx context.Context, bucket string, objectLock bool) error {
	if !ValidBucketName(bucket) {
		return fmt.Errorf("%w: %q", ErrInvalidBucketName, bucket)
	}
	if err := os.MkdirAll(f.root, dirPerm); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	top, err := os.OpenRoot(f.root)
	if err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	defer top.Close()
	if err := top.Mkdir(bucket, dirPerm); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("bucket %s: %w", bucket, ErrBucketExists)
		}
		return fmt.Errorf("create bucket: %w", err)
	}
	b, err := openDir(top, bucket)
	if err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	defer b.Close()
	meta, err := json.Marshal(bucketMeta{ObjectLock: objectLock, Created: f.now().UTC()})
	if err != nil {
		return err
	}
	if err := writeDurable(b, bucketSidecar, meta, filePerm); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	if err := syncDir(top); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	return nil
}

// BucketExists implements Store.
func (f *FS) BucketExists(ctx context.Context, bucket string) (bool, error) {
	b, err := f.openBucket(bucket)
	if errors.Is(err, ErrNoSuchBucket) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	b.Close()
	return true, nil
}

// Put implements Store: the body goes to a temporary file that is synced,
// then renamed over the key, and the directory synced.
func (f *FS) Put(ctx context.Context, bucket, key string, body []byte, o PutOptions) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	b, err := f.openBucket(bucket)
	if err != nil {
		return err
	}
	defer b.Close()
	if !o.RetainUntil.IsZero() {
		var bm bucketMeta
		if err := readJSON(b, bucketSidecar, &bm); err != nil && !missing(err) {
			return fmt.Errorf("put %s/%s: %w", bucket, key, err)
		}
		if !bm.ObjectLock {
			return fmt.Errorf("put %s/%s: %w", bucket, key, ErrNoObjectLock)
		}
	}
	f.dirs.RLock()
	defer f.dirs.RUnlock()
	defer f.lockKey(bucket, key)()

	p, err := walkKey(b, key, true)
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	defer p.close()
	dir, base, meta := p.dir(), p.base, metaName(p.base)
	st, err := dir.Lstat(base)
	switch {
	case err == nil && st.IsDir():
		return fmt.Errorf("put %s/%s: %w: it is the directory of other keys", bucket, key, ErrKeyConflict)
	case err == nil && !st.Mode().IsRegular():
		return fmt.Errorf("put %s/%s: %w: a file that is not a regular file is in the way", bucket, key, ErrKeyConflict)
	case err == nil:
		cur, locked, err := f.retained(dir, base, meta)
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

	perm := os.FileMode(filePerm)
	if !o.RetainUntil.IsZero() {
		perm = retainedPerm
	}
	// The body is on disk before the sidecar names it, and the sidecar is
	// in place before the body appears under its key: a crash leaves
	// either the old object or the new one with its metadata.
	tmp, tst, err := writeTemp(dir, base, body, perm)
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	sc, err := json.Marshal(sidecar{
		ETag: ETag(body), Size: int64(len(body)),
		ContentType: o.ContentType, ContentEncoding: o.ContentEncoding,
		Metadata: lowerKeys(o.Metadata), RetainUntil: o.RetainUntil.UTC(),
		MTime: tst.ModTime().UnixNano(), Inode: inode(tst),
	})
	if err != nil {
		dir.Remove(tmp)
		return err
	}
	if err := writeDurable(dir, meta, sc, filePerm); err != nil {
		dir.Remove(tmp)
		return fmt.Errorf("put %s/%s: metadata: %w", bucket, key, err)
	}
	if err := dir.Rename(tmp, base); err != nil {
		dir.Remove(tmp)
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
func (f *FS) retained(dir *os.Root, base, meta string) (body []byte, locked bool, err error) {
	var sc sidecar
	if err := readJSON(dir, meta, &sc); err != nil {
		if missing(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if !f.now().Before(sc.RetainUntil) {
		return nil, false, nil
	}
	body, err = readFile(dir, base)
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
	return r.readAll(bucket, 0)
}

// Head implements Store.
func (f *FS) Head(ctx context.Context, bucket, key string) (ObjectInfo, map[string]string, error) {
	if err := CheckKey(key); err != nil {
		return ObjectInfo{}, nil, err
	}
	b, err := f.openBucket(bucket)
	if err != nil {
		return ObjectInfo{}, nil, err
	}
	defer b.Close()
	defer f.lockKey(bucket, key)()
	p, err := walkKey(b, key, false)
	if err != nil {
		return ObjectInfo{}, nil, notFound(bucket, key, err)
	}
	defer p.close()
	st, err := p.dir().Lstat(p.base)
	if err != nil {
		return ObjectInfo{}, nil, notFound(bucket, key, err)
	}
	if !st.Mode().IsRegular() {
		return ObjectInfo{}, nil, fmt.Errorf("%s/%s: %w", bucket, key, ErrNotFound)
	}
	info, sc, err := describe(p.dir(), key, p.base, st)
	if err != nil {
		return ObjectInfo{}, nil, notFound(bucket, key, fmt.Errorf("head %s/%s: %w", bucket, key, err))
	}
	return info, sc.Metadata, nil
}

// describe builds the listing entry of the file name in dir, whose Lstat
// is st. The sidecar's ETag is trusted when the sidecar names this very
// file, so that listing does not read every body; other files (copied in
// by hand, or replaced by a Put that did not finish) are hashed.
func describe(dir *os.Root, key, name string, st fs.FileInfo) (ObjectInfo, sidecar, error) {
	info := ObjectInfo{Key: key, Size: st.Size(), LastModified: st.ModTime().UTC()}
	var sc sidecar
	if err := readJSON(dir, metaName(name), &sc); err == nil && sc.describes(st) {
		info.ETag = sc.ETag
		return info, sc, nil
	}
	body, err := readFile(dir, name)
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
// before the directory "a", because '-' and '.' sort before '/'. Only
// directories and regular files are keys: links, pipes and devices are
// passed over.
func (f *FS) List(ctx context.Context, bucket, prefix, startAfter string, max int) ([]ObjectInfo, error) {
	b, err := f.openBucket(bucket)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	limit := listLimit(max)
	var out []ObjectInfo
	type entry struct {
		sortKey, name string
		dir           bool
	}
	var walk func(dir *os.Root, keyPrefix string) (bool, error)
	walk = func(dir *os.Root, keyPrefix string) (bool, error) {
		if err := ctx.Err(); err != nil {
			return true, err
		}
		des, err := readDir(dir)
		if err != nil {
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
				sub, err := openDir(dir, e.name)
				if missing(err) {
					continue // removed or replaced since the directory was read
				}
				if err != nil {
					return true, err
				}
				done, err := walk(sub, e.sortKey)
				sub.Close()
				if done || err != nil {
					return true, err
				}
				continue
			}
			if !inRange || e.sortKey <= startAfter || CheckKey(e.sortKey) != nil {
				continue
			}
			st, err := dir.Lstat(e.name)
			if missing(err) || err == nil && !st.Mode().IsRegular() {
				continue
			}
			if err != nil {
				return true, err
			}
			info, _, err := describe(dir, e.sortKey, e.name, st)
			if missing(err) {
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
	if _, err := walk(b, ""); err != nil {
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
	b, err := f.openBucket(bucket)
	if err != nil {
		return err
	}
	defer b.Close()
	f.dirs.Lock()
	defer f.dirs.Unlock()
	defer f.lockKey(bucket, key)()
	p, err := walkKey(b, key, false)
	if err != nil {
		if errors.Is(notFound(bucket, key, err), ErrNotFound) {
			return nil
		}
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	defer p.close()
	dir := p.dir()
	st, err := dir.Lstat(p.base)
	if err != nil {
		if errors.Is(notFound(bucket, key, err), ErrNotFound) {
			return nil
		}
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	if !st.Mode().IsRegular() {
		return nil
	}
	_, locked, err := f.retained(dir, p.base, metaName(p.base))
	if err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	if locked {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, ErrObjectLocked)
	}
	if err := dir.Remove(p.base); err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	if err := dir.Remove(metaName(p.base)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s/%s: metadata: %w", bucket, key, err)
	}
	// Remove the directories left empty, deepest first; one that still
	// holds something stops the climb, and is the last one changed.
	for i := len(p.names); i > 0; i-- {
		if p.dirs[i-1].Remove(p.names[i-1]) != nil {
			break
		}
		p.dirs[i].Close()
		p.dirs, p.names = p.dirs[:i], p.names[:i-1]
	}
	if err := syncDir(p.dir()); err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	return nil
}

// missing reports an error that means the name is not there as a file or
// directory cairn could have written: absent, below a file, or something
// it does not follow or open.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) ||
		errors.Is(err, errNotDir) || errors.Is(err, errNotRegular)
}

func notFound(bucket, key string, err error) error {
	if missing(err) {
		return fmt.Errorf("%s/%s: %w", bucket, key, ErrNotFound)
	}
	return err
}

// Modes of what the fs backend creates: only the user cairn runs as may
// read a bucket, whatever the umask.
const (
	dirPerm      = 0o700
	filePerm     = 0o600
	retainedPerm = 0o400 // read-only, as a signal to people
)

// Errors for names that are there but are not what cairn writes: they are
// never followed or opened, and count as missing.
var (
	errNotDir     = errors.New("not a directory")
	errNotRegular = errors.New("not a regular file")
)

// openDir opens the directory name in parent. A symbolic link, or anything
// else but a directory, is refused: checked before opening without
// following it, and checked again on what was opened, in case it was
// swapped meanwhile (os.Root follows links that stay inside it).
func openDir(parent *os.Root, name string) (*os.Root, error) {
	st, err := parent.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: %w", name, errNotDir)
	}
	d, err := parent.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	got, err := d.Stat(".")
	if err == nil && !os.SameFile(st, got) {
		err = fmt.Errorf("%s: %w", name, errNotDir)
	}
	if err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// openRegular opens the regular file name in dir for reading. A link, a
// pipe, a device or a socket is refused without being opened; should one
// be swapped in meanwhile, the non-blocking open cannot hang on a pipe and
// the check on what was opened refuses it.
func openRegular(dir *os.Root, name string) (*os.File, fs.FileInfo, error) {
	st, err := dir.Lstat(name)
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: %w", name, errNotRegular)
	}
	fh, err := dir.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	got, err := fh.Stat()
	if err == nil && (!got.Mode().IsRegular() || !os.SameFile(st, got)) {
		err = fmt.Errorf("%s: %w", name, errNotRegular)
	}
	if err != nil {
		fh.Close()
		return nil, nil, err
	}
	return fh, got, nil
}

// readFile reads the regular file name in dir.
func readFile(dir *os.Root, name string) ([]byte, error) {
	fh, _, err := openRegular(dir, name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return io.ReadAll(fh)
}

func readJSON(dir *os.Root, name string, v any) error {
	b, err := readFile(dir, name)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// readDir lists dir; entries say what they are without following links.
func readDir(dir *os.Root) ([]fs.DirEntry, error) {
	d, err := dir.Open(".")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadDir(-1)
}

// writeTemp writes data to a new hidden temporary file in dir, syncs it,
// and returns its name and what it is.
func writeTemp(dir *os.Root, base string, data []byte, perm os.FileMode) (string, fs.FileInfo, error) {
	var fh *os.File
	var name string
	var err error
	// O_EXCL makes a new file, never opens one that is there, link or not.
	for range 100 {
		name = "." + base + tempInfix + strconv.FormatUint(rand.Uint64(), 36)
		fh, err = dir.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return "", nil, err
	}
	_, err = fh.Write(data)
	if err == nil {
		err = fh.Sync()
	}
	if err == nil {
		err = fh.Chmod(perm)
	}
	var st fs.FileInfo
	if err == nil {
		st, err = fh.Stat()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		dir.Remove(name)
		return "", nil, err
	}
	return name, st, nil
}

// writeDurable replaces dir/base with data so that either the old or the
// new content is there after a crash, and the new one once it returns.
func writeDurable(dir *os.Root, base string, data []byte, perm os.FileMode) error {
	tmp, _, err := writeTemp(dir, base, data, perm)
	if err != nil {
		return err
	}
	if err := dir.Rename(tmp, base); err != nil {
		dir.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// syncDir makes the directory's entries (renames, new files) durable.
func syncDir(dir *os.Root) error {
	d, err := dir.Open(".")
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
