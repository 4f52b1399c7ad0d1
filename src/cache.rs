//! The extraction cache: what [`crate::migration`] extracted from each file, so a
//! run over unchanged files neither parses nor, usually, reads them.
//!
//! One file per project and set of version locations:
//! `<cache dir>/<tool version>/<xxh3 of root and locations>.bin`: a header (magic,
//! [`BUILD_KEY`], the length of the ops section, its xxh3-128 checksum, and an
//! HMAC-SHA-256 of the header and the index section made with the machine's
//! secret key, [`machine_secret`]), the ops section, then the index section. Each
//! file has two blobs: the [`Migration`] without its path, source and `ops`
//! (small, in the index section after the bincode index of paths, stamps, hashes
//! and blob places), and its `ops` (the argument trees of every `op.*` call, most
//! of the bytes, in the ops section). The index section is read and checked at
//! every run; the ops section only when a rule that runs reads `ops`
//! ([`crate::rules::Rule::reads_ops`]) or when the file is rewritten. A file
//! extracted by a run that needed no `ops` has none stored: the first run that
//! needs them parses it again and stores them.
//!
//! **Validation**, as git's index and ruff do it: an entry whose file has the same
//! size, mtime, ctime, inode and device is used without reading the file, unless
//! the entry is *racy*: the file's mtime or ctime was within [`RACY_NS`] of the
//! moment its content was last hashed, so an edit made right after that moment
//! could keep every stamp. Any other entry is checked by reading the file and
//! comparing the content hash (a match refreshes the stamps; a mismatch parses).
//! An edit that restores the mtime still changes the ctime, which no tool can set.
//! The source text is not kept: the engine reads it again, only for the files a
//! diagnostic points into.
//!
//! Configuration does not affect extraction, so it is not part of the key, except
//! for the enabled query rules, whose matches are extracted with the rest: each set
//! of them (its fingerprint) has its own file, and with none enabled the file is the
//! one it always was. A cache file that is missing, truncated, corrupt, from
//! another build or not written on this machine (its MAC does not match) is
//! ignored and rewritten; one that cannot be written is skipped. Writes go
//! through a temporary file and a rename, so concurrent runs never see half a
//! file.
//!
//! **Trust.** A repository may hold a `.migverify_cache` (a pull request can
//! commit one). A cache file counts only with a MAC made with this machine's
//! key, kept outside the project, so a committed or copied cache is at worst
//! ignored, never believed. The ops section is bound through its checksum in the
//! MAC'd header. The cache is never written through a symlink: the directories
//! must be real directories owned by the user, `.gitignore` is created with
//! `O_EXCL`, the cache file is replaced by a rename and read with `O_NOFOLLOW`
//! and `O_NONBLOCK` (a named pipe is not a cache file). Temporary files of
//! interrupted writes are removed on SIGINT/SIGTERM/SIGHUP, and by a later write
//! once older than ten minutes.
//! `--stdin-filename` content and unreadable files are never stored.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, xxh3_128};

use crate::migration::{Migration, OpCall};

/// The build's cache key (see `build.rs`): the crate version and a hash of the
/// sources and `Cargo.lock`. A cache file written by any other build is ignored
/// and rewritten, so a change to extraction can never be answered by a stale
/// entry, and nobody has to remember to bump a format number.
pub const BUILD_KEY: &str = env!("MIGVERIFY_BUILD_KEY");

/// The default cache directory name, under the project root.
pub const DEFAULT_DIR: &str = ".migverify_cache";

/// How close (in ns) a file's mtime or ctime may be to the moment its content was
/// hashed before its stamps stop proving it unchanged: more than the coarsest
/// timestamp granularity of common file systems (FAT's 2 s) and clock skew on a
/// network file system of a second.
pub const RACY_NS: i128 = 3_000_000_000;

const MAGIC: &[u8; 8] = b"MVCACHE\x01";
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The first line of the `.gitignore` written in the cache directory; `clean`
/// removes only directories that hold it.
const GITIGNORE: &str = "# Automatically created by migverify.\n*\n";

/// What the file system says about a file: equal stamps mean an unchanged file
/// (unless racy, see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    pub size: u64,
    pub mtime_ns: i128,
    /// 0 where the platform has no ctime.
    pub ctime_ns: i128,
    pub ino: u64,
    pub dev: u64,
}

impl Stat {
    pub fn new(meta: &std::fs::Metadata) -> Stat {
        let mtime_ns = meta.modified().ok().map_or(0, ns_since_epoch);
        #[cfg(unix)]
        let (ctime_ns, ino, dev) = {
            use std::os::unix::fs::MetadataExt;
            (
                i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
                meta.ino(),
                meta.dev(),
            )
        };
        #[cfg(not(unix))]
        let (ctime_ns, ino, dev) = (0, 0, 0);
        Stat {
            size: meta.len(),
            mtime_ns,
            ctime_ns,
            ino,
            dev,
        }
    }
}

fn ns_since_epoch(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// The current time, for [`Entry::checked_ns`].
pub fn now_ns() -> i128 {
    ns_since_epoch(SystemTime::now())
}

/// One file's entry in the index.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    path: String,
    pub stat: Stat,
    /// xxh3-128 of the file's bytes.
    pub hash: u128,
    /// When (ns since the epoch, taken before the file was read) `hash` was last
    /// checked against the file's content.
    pub checked_ns: i128,
    /// The core blob, in the core section.
    core: (u32, u32),
    /// The ops blob, in the ops section; `None` when the file was extracted
    /// without them (no rule that ran read them).
    ops: Option<(u32, u32)>,
}

impl Entry {
    /// Whether the stamps alone prove the file unchanged when they match.
    pub fn trusted(&self) -> bool {
        self.stat.mtime_ns.max(self.stat.ctime_ns) + RACY_NS < self.checked_ns
    }
}

/// A file's `ops` blob to write: the one in the loaded cache file, new, or none
/// (extracted without `ops`: a run that needs them parses the file again).
pub enum OpsBlob {
    Cached((u32, u32)),
    New(Vec<u8>),
    Missing,
}

/// What to write for one file: its stamps, hash and the two encoded blobs
/// (borrowed from the loaded cache file for a hit, new for a parse).
pub struct Stored<'c> {
    pub path: PathBuf,
    pub stat: Stat,
    pub hash: u128,
    pub checked_ns: i128,
    pub core: Cow<'c, [u8]>,
    pub ops: OpsBlob,
}

/// The core blob of a freshly extracted migration (all but path, source, ops).
pub fn encode_core(m: &Migration) -> Vec<u8> {
    bincode::serde::encode_to_vec(m, bincode::config::standard()).expect("a migration serializes")
}

/// The ops blob of a freshly extracted migration.
pub fn encode_ops(m: &Migration) -> Vec<u8> {
    bincode::serde::encode_to_vec(&m.ops, bincode::config::standard()).expect("ops serialize")
}

/// The fixed part of the header after the build key: ops section length, ops
/// section checksum, and the MAC of the header and the index section.
const HEADER_TAIL: usize = 8 + 16 + 32;

/// The largest index section read (it is read whole at every run).
const MAX_INDEX: u64 = 1 << 30;

/// The machine's secret cache key: a cache file is trusted only when it carries a
/// MAC made with it, so a cache file committed to a repository (or copied from
/// another machine) is ignored and can never change a verdict. Kept in
/// `$XDG_CACHE_HOME/migverify/key` (else `~/.cache/migverify/key`), created on
/// first use; with no such directory, or none writable, a key for this process
/// only (caches are then written but never reused).
pub fn machine_secret() -> &'static Secret {
    static SECRET: OnceLock<Secret> = OnceLock::new();
    SECRET.get_or_init(|| match user_cache_home() {
        Some(home) => load_secret(&home),
        None => Secret(random_key()),
    })
}

/// A 32-byte key for the cache MAC.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secret([u8; 32]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

fn user_cache_home() -> Option<PathBuf> {
    let nonempty = |v: std::ffi::OsString| (!v.is_empty()).then(|| PathBuf::from(v));
    std::env::var_os("XDG_CACHE_HOME")
        .and_then(nonempty)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(nonempty)
                .map(|h| h.join(".cache"))
        })
}

/// The key kept in `<cache_home>/migverify/key`, created (mode 0600) when absent.
pub fn load_secret(cache_home: &Path) -> Secret {
    let dir = cache_home.join("migverify");
    let file = dir.join("key");
    if let Some(key) = read_key(&file) {
        return Secret(key);
    }
    let key = random_key();
    let text: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let stored = std::fs::create_dir_all(&dir).is_ok()
        && tempfile::Builder::new()
            .prefix(".key")
            .tempfile_in(&dir)
            .and_then(|mut tmp| {
                tmp.write_all(text.as_bytes())?;
                // Another process may have created it meanwhile: keep theirs.
                tmp.persist_noclobber(&file).map_err(|e| e.error)?;
                Ok(())
            })
            .is_ok();
    match read_key(&file) {
        Some(k) => Secret(k),
        None => {
            let _ = stored;
            Secret(key)
        }
    }
}

fn read_key(file: &Path) -> Option<[u8; 32]> {
    let meta = std::fs::symlink_metadata(file).ok()?;
    if !meta.is_file() || meta.len() != 64 {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    let from_os = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .is_ok();
    if !from_os {
        // No /dev/urandom (Windows): std's hasher keys come from the OS.
        use std::hash::{BuildHasher, Hasher};
        for chunk in key.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(now_ns() as u128);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    key
}

/// HMAC-SHA-256 (RFC 2104) of the concatenated `parts`.
fn mac(key: &Secret, parts: &[&[u8]]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.0.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let mut inner = Sha256::new();
    inner.update(ipad);
    for p in parts {
        inner.update(p);
    }
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(opad);
    outer.update(inner);
    outer.finalize().into()
}

/// A project's cache, as loaded at the start of a run.
///
/// The file is `header | ops section | index section`, the index section being
/// the bincode index followed by the core blobs. The header and the index
/// section are read and checked (checksum) when the cache is opened; the ops
/// section, most of the file, only when a migration's `ops` are needed or the
/// file is rewritten, and is then checked against its own checksum (a damaged
/// one makes those files parse again).
pub struct Cache {
    file: PathBuf,
    dir: PathBuf,
    verbose: bool,
    secret: Secret,
    build: &'static str,
    /// Why the cache file was ignored, when it was.
    ignored: Option<String>,
    /// The open cache file (its ops section is read from it on demand: a
    /// concurrent run that replaces the file does not change what this one reads).
    handle: Option<Mutex<std::fs::File>>,
    ops_at: u64,
    ops_len: u64,
    ops_checksum: u128,
    ops: OnceLock<Option<Vec<u8>>>,
    /// The index section.
    index: Vec<u8>,
    /// Where the core blobs start in `index`.
    cores: usize,
    entries: Vec<Entry>,
    by_path: OnceLock<HashMap<String, usize>>,
}

impl Cache {
    /// The cache file for `root` and `locations` under `dir`, loaded if present
    /// and valid (else empty).
    pub fn open(dir: &Path, root: &Path, locations: &[PathBuf], verbose: bool) -> Cache {
        Cache::open_for(dir, root, locations, 0, verbose)
    }

    /// [`Cache::open`] for extractions that ran the query rules whose
    /// [`crate::rules::query::QuerySet::fingerprint`] is `queries` (0: none): each
    /// set of query rules has its own cache file, holding its matches.
    pub fn open_for(
        dir: &Path,
        root: &Path,
        locations: &[PathBuf],
        queries: u64,
        verbose: bool,
    ) -> Cache {
        Cache::open_keyed(dir, root, locations, queries, *machine_secret(), verbose)
    }

    /// [`Cache::open_for`] with the MAC key `secret` instead of the machine's (a
    /// test stands for another machine with it).
    pub fn open_keyed(
        dir: &Path,
        root: &Path,
        locations: &[PathBuf],
        queries: u64,
        secret: Secret,
        verbose: bool,
    ) -> Cache {
        Cache::open_with(dir, root, locations, queries, secret, BUILD_KEY, verbose)
    }

    fn open_with(
        dir: &Path,
        root: &Path,
        locations: &[PathBuf],
        queries: u64,
        secret: Secret,
        build: &'static str,
        verbose: bool,
    ) -> Cache {
        let mut id = root.as_os_str().as_encoded_bytes().to_vec();
        for l in locations {
            id.push(0);
            id.extend_from_slice(l.as_os_str().as_encoded_bytes());
        }
        if queries != 0 {
            id.push(0xff);
            id.extend_from_slice(&queries.to_le_bytes());
        }
        let file = dir.join(VERSION).join(format!("{:016x}.bin", xxh3_64(&id)));
        let mut cache = Cache {
            file,
            dir: dir.to_path_buf(),
            verbose,
            secret,
            build,
            ignored: None,
            handle: None,
            ops_at: 0,
            ops_len: 0,
            ops_checksum: 0,
            ops: OnceLock::new(),
            index: Vec::new(),
            cores: 0,
            entries: Vec::new(),
            by_path: OnceLock::new(),
        };
        match open_no_follow(&cache.file) {
            Ok(handle) => {
                if let Err(why) = cache.load(handle) {
                    note(
                        verbose,
                        &format!("ignoring {}: {why}", cache.file.display()),
                    );
                    cache.entries.clear();
                    cache.handle = None;
                    cache.ignored = Some(why);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => note(
                verbose,
                &format!("cannot read {}: {e}", cache.file.display()),
            ),
        }
        cache
    }

    /// Reads the header and the index section of an open cache file, and checks
    /// its MAC.
    fn load(&mut self, mut handle: std::fs::File) -> Result<(), String> {
        let meta = handle.metadata().map_err(|e| e.to_string())?;
        if !meta.is_file() {
            return Err("not a regular file".into());
        }
        let size = meta.len();
        let head_len = MAGIC.len() + 4 + self.build.len() + HEADER_TAIL;
        let mut head = vec![0u8; head_len.min(size as usize)];
        handle.read_exact(&mut head).map_err(|e| e.to_string())?;
        let rest = head
            .strip_prefix(MAGIC)
            .ok_or("not a migverify cache file of this format")?;
        let (len, rest) = take_u32(rest)?;
        let len = len as usize;
        if rest.len() < len + HEADER_TAIL || &rest[..len] != self.build.as_bytes() {
            return Err("written by another build of migverify".into());
        }
        let tail = &rest[len..];
        let ops_len = u64::from_le_bytes(tail[..8].try_into().expect("8 bytes"));
        let ops_checksum = u128::from_le_bytes(tail[8..24].try_into().expect("16 bytes"));
        let index_mac: [u8; 32] = tail[24..56].try_into().expect("32 bytes");
        let ops_at = head.len() as u64;
        let index_at = ops_at.checked_add(ops_len).ok_or("truncated")?;
        if index_at > size {
            return Err("truncated".into());
        }
        // Read whole: bounded (a million files take about 300 MB).
        if size - index_at > MAX_INDEX {
            return Err("index section too large".into());
        }
        let mut index = vec![0u8; (size - index_at) as usize];
        handle
            .seek(SeekFrom::Start(index_at))
            .and_then(|_| handle.read_exact(&mut index))
            .map_err(|e| e.to_string())?;
        // The MAC covers the header (with the ops section's checksum) and the
        // index section: only this machine's runs can have written it.
        if mac(&self.secret, &[&head[..head.len() - 32], &index]) != index_mac {
            return Err(
                "not written on this machine, or truncated or corrupt (its MAC does not match)"
                    .into(),
            );
        }
        let (entries, read): (Vec<Entry>, usize) =
            bincode::serde::decode_from_slice(&index, bincode::config::standard())
                .map_err(|e| e.to_string())?;
        let cores_len = index.len() - read;
        for e in &entries {
            if e.core.0 as usize + e.core.1 as usize > cores_len
                || e.ops
                    .is_some_and(|(at, len)| u64::from(at) + u64::from(len) > ops_len)
            {
                return Err("an entry points past the end".into());
            }
        }
        self.handle = Some(Mutex::new(handle));
        self.ops_at = ops_at;
        self.ops_len = ops_len;
        self.ops_checksum = ops_checksum;
        self.index = index;
        self.cores = read;
        self.entries = entries;
        Ok(())
    }

    /// The ops section, read and checked on first use; `None` when it cannot be
    /// read or is damaged.
    fn ops_section(&self) -> Option<&[u8]> {
        self.ops
            .get_or_init(|| {
                let handle = self.handle.as_ref()?;
                let mut handle = handle.lock().ok()?;
                let mut bytes = vec![0u8; usize::try_from(self.ops_len).ok()?];
                handle.seek(SeekFrom::Start(self.ops_at)).ok()?;
                handle.read_exact(&mut bytes).ok()?;
                if xxh3_128(&bytes) != self.ops_checksum {
                    note(
                        self.verbose,
                        &format!(
                            "{}: damaged ops section, parsing again",
                            self.file.display()
                        ),
                    );
                    return None;
                }
                Some(bytes)
            })
            .as_deref()
    }

    /// Why the cache file there was ignored (another build, not written on this
    /// machine, corrupt, ...), if it was.
    pub fn ignored(&self) -> Option<String> {
        self.ignored.clone()
    }

    /// The path of the cache file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The number of entries loaded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The index of `path`'s entry. `hint` is where it is expected (its position
    /// in the file list, which is the order entries are written in).
    pub fn lookup(&self, path: &Path, hint: usize) -> Option<usize> {
        let key = path.to_str()?;
        if self.entries.get(hint).is_some_and(|e| e.path == key) {
            return Some(hint);
        }
        self.by_path
            .get_or_init(|| {
                self.entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (e.path.clone(), i))
                    .collect()
            })
            .get(key)
            .copied()
    }

    pub fn entry(&self, i: usize) -> &Entry {
        &self.entries[i]
    }

    fn core(&self, i: usize) -> &[u8] {
        let (at, len) = self.entries[i].core;
        let start = self.cores + at as usize;
        &self.index[start..start + len as usize]
    }

    /// Entry `i`'s migration (path set, no source), with its `ops` when `with_ops`;
    /// `None` when its blobs cannot be read or do not decode.
    pub fn migration(&self, i: usize, path: &Path, with_ops: bool) -> Option<Migration> {
        let e = &self.entries[i];
        let cfg = bincode::config::standard();
        let core = self.core(i);
        let (mut m, read): (Migration, usize) =
            bincode::serde::decode_from_slice(core, cfg).ok()?;
        if read != core.len() {
            return None;
        }
        if with_ops {
            let (at, len) = e.ops?;
            let (at, len) = (at as usize, len as usize);
            let ops = self.ops_section()?.get(at..at + len)?;
            let (v, read): (Vec<OpCall>, usize) =
                bincode::serde::decode_from_slice(ops, cfg).ok()?;
            if read != ops.len() {
                return None;
            }
            m.ops = v;
        }
        m.path = path.to_path_buf();
        Some(m)
    }

    /// Entry `i` as it stands, to write again; with new stamps when given.
    pub fn stored(&self, i: usize, refreshed: Option<(Stat, i128)>) -> Stored<'_> {
        let e = &self.entries[i];
        let (stat, checked_ns) = refreshed.unwrap_or((e.stat, e.checked_ns));
        Stored {
            path: PathBuf::from(&e.path),
            stat,
            hash: e.hash,
            checked_ns,
            core: Cow::Borrowed(self.core(i)),
            ops: e.ops.map_or(OpsBlob::Missing, OpsBlob::Cached),
        }
    }

    /// Writes `entries` (in file order) when `changed` or when files are gone.
    /// Failures are only noted.
    pub fn store(&self, entries: &[Stored<'_>], changed: bool) {
        if !changed && entries.len() == self.entries.len() {
            return;
        }
        if let Err(why) = self.write(entries) {
            note(
                self.verbose,
                &format!("cannot write {}: {why}", self.file.display()),
            );
        }
    }

    fn write(&self, stored: &[Stored<'_>]) -> Result<(), String> {
        // The ops blobs are not copied into one buffer: they are hashed, then
        // written one by one (a cold 10,000-file run holds 30 MB of them).
        let mut ops: Vec<&[u8]> = Vec::with_capacity(stored.len());
        let mut ops_len: u64 = 0;
        let mut ops_hash = xxhash_rust::xxh3::Xxh3Default::new();
        let mut cores: Vec<u8> = Vec::new();
        let mut index: Vec<Entry> = Vec::with_capacity(stored.len());
        for s in stored {
            // Paths that are not UTF-8 are not cached.
            let Some(path) = s.path.to_str() else {
                continue;
            };
            let op_bytes = match &s.ops {
                OpsBlob::New(b) => Some(b.as_slice()),
                OpsBlob::Cached((at, len)) => {
                    let (at, len) = (*at as usize, *len as usize);
                    // A damaged ops section: the file is parsed on the next run.
                    match self.ops_section().and_then(|o| o.get(at..at + len)) {
                        Some(b) => Some(b),
                        None => continue,
                    }
                }
                OpsBlob::Missing => None,
            };
            let too_large = |_| "cache too large".to_string();
            let ops_place = match op_bytes {
                Some(op_bytes) => {
                    let place = (
                        u32::try_from(ops_len).map_err(too_large)?,
                        u32::try_from(op_bytes.len()).map_err(too_large)?,
                    );
                    ops_len += op_bytes.len() as u64;
                    ops_hash.update(op_bytes);
                    ops.push(op_bytes);
                    Some(place)
                }
                None => None,
            };
            let core = (
                u32::try_from(cores.len()).map_err(too_large)?,
                u32::try_from(s.core.len()).map_err(too_large)?,
            );
            cores.extend_from_slice(&s.core);
            index.push(Entry {
                path: path.to_string(),
                stat: s.stat,
                hash: s.hash,
                checked_ns: s.checked_ns,
                core,
                ops: ops_place,
            });
        }
        u32::try_from(ops_len).map_err(|_| "cache too large")?;
        let mut section = bincode::serde::encode_to_vec(&index, bincode::config::standard())
            .map_err(|e| e.to_string())?;
        section.extend_from_slice(&cores);
        drop(cores);
        let mut header = Vec::with_capacity(128);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&(self.build.len() as u32).to_le_bytes());
        header.extend_from_slice(self.build.as_bytes());
        header.extend_from_slice(&ops_len.to_le_bytes());
        header.extend_from_slice(&ops_hash.digest128().to_le_bytes());
        let index_mac = mac(&self.secret, &[&header, &section]);
        header.extend_from_slice(&index_mac);

        let parent = self.file.parent().expect("cache file has a directory");
        real_dir(&self.dir, true)?;
        real_dir(parent, false)?;
        // `create_new` never follows a symlink (O_EXCL): a planted dangling
        // `.gitignore` link cannot create its target.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.dir.join(".gitignore"))
        {
            Ok(mut f) => f
                .write_all(GITIGNORE.as_bytes())
                .map_err(|e| e.to_string())?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.to_string()),
        }
        remove_stale_temporaries(parent);
        // No fsync: a cache file lost or torn by a crash fails its checksum and
        // is ignored. The temporary file is created with O_EXCL and renamed over
        // the cache file (a rename replaces a symlink, never follows it).
        let tmp = tempfile::NamedTempFile::new_in(parent).map_err(|e| e.to_string())?;
        let _guard = crate::fsutil::remove_on_signal(tmp.path());
        let mut out = std::io::BufWriter::with_capacity(1 << 20, tmp);
        out.write_all(&header).map_err(|e| e.to_string())?;
        for b in ops {
            out.write_all(b).map_err(|e| e.to_string())?;
        }
        out.write_all(&section).map_err(|e| e.to_string())?;
        let tmp = out.into_inner().map_err(|e| e.error().to_string())?;
        tmp.persist(&self.file).map_err(|e| e.error.to_string())?;
        Ok(())
    }
}

/// Opens a cache file for reading without following a symlink and without
/// blocking on a named pipe (the caller checks it is a regular file).
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(std::io::Error::other("a symlink"));
    }
    o.open(path)
}

/// Makes sure `dir` is a real directory (not a symlink) owned by this user,
/// creating it (and, when `parents`, its missing parents) if absent. The cache
/// is never written through a symlink a repository may hold.
fn real_dir(dir: &Path, parents: bool) -> Result<(), String> {
    if std::fs::symlink_metadata(dir).is_err() {
        if parents && let Some(p) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(p).map_err(|e| e.to_string())?;
        }
        // mkdir does not follow a dangling symlink: it fails with "exists".
        if let Err(e) = std::fs::create_dir(dir)
            && e.kind() != std::io::ErrorKind::AlreadyExists
        {
            return Err(e.to_string());
        }
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if !meta.is_dir() {
        return Err(format!(
            "{} is not a directory (a symlink?): not writing through it",
            dir.display()
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(format!(
                "{} belongs to another user: not writing there",
                dir.display()
            ));
        }
    }
    Ok(())
}

/// How old a temporary file in the cache directory must be to be taken for one
/// an interrupted run left (a write takes well under a second).
const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes temporary files (`.tmp*`) that interrupted runs left in `dir`.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for e in entries.flatten() {
        if !e.file_name().as_encoded_bytes().starts_with(b".tmp") {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > STALE_TEMPORARY);
        if meta.is_file() && old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn take_u32(bytes: &[u8]) -> Result<(u32, &[u8]), String> {
    if bytes.len() < 4 {
        return Err("truncated".into());
    }
    let (n, rest) = bytes.split_at(4);
    Ok((u32::from_le_bytes(n.try_into().expect("4 bytes")), rest))
}

fn note(verbose: bool, message: &str) {
    if verbose {
        eprintln!("note: cache: {message}");
    }
}

/// What [`clean`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Cleaned {
    Removed,
    Absent,
}

/// Removes the cache directory `dir`. Refuses a directory that is not a
/// migverify cache (no `.gitignore` written by migverify in it), so a mistyped
/// `--cache-dir` cannot delete other files.
pub fn clean(dir: &Path) -> Result<Cleaned, crate::Error> {
    if !dir.exists() {
        return Ok(Cleaned::Absent);
    }
    // Not following a symlink, not blocking on a pipe, reading a line at most.
    let marker = open_no_follow(&dir.join(".gitignore"))
        .ok()
        .filter(|f| f.metadata().is_ok_and(|m| m.is_file()))
        .and_then(|f| {
            let mut text = String::new();
            f.take(256).read_to_string(&mut text).ok()?;
            Some(text)
        })
        .unwrap_or_default();
    if !marker.starts_with(GITIGNORE.lines().next().expect("a line")) {
        return Err(crate::Error::Project {
            message: format!("{} is not a migverify cache directory", dir.display()),
            help: Some(format!(
                "migverify writes a .gitignore starting with `{}` in its cache directory; remove the directory by hand if it is yours",
                GITIGNORE.lines().next().expect("a line")
            )),
        });
    }
    std::fs::remove_dir_all(dir).map_err(|source| crate::Error::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(Cleaned::Removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(path: &Path, text: &str) -> Stored<'static> {
        let m = crate::migration::parse_source(path.to_path_buf(), text.as_bytes().to_vec());
        Stored {
            path: path.to_path_buf(),
            stat: Stat::default(),
            hash: xxh3_128(text.as_bytes()),
            checked_ns: 0,
            core: Cow::Owned(encode_core(&m)),
            ops: OpsBlob::New(encode_ops(&m)),
        }
    }

    /// Issue 19: the cache key comes from the build. A file written by another
    /// build (another key) is ignored, and the next write replaces it.
    #[test]
    fn a_cache_written_under_another_build_key_is_ignored_and_rewritten() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, root) = (tmp.path().join("cache"), tmp.path().to_path_buf());
        let file = root.join("a.py");
        let text = "revision = 'a'\ndown_revision = None\n";
        let secret = Secret([7; 32]);
        let open =
            |build: &'static str| Cache::open_with(&dir, &root, &[], 0, secret, build, false);
        let other = open("0.0.0-another-build");
        other.store(&[stored(&file, text)], true);
        assert_eq!(open("0.0.0-another-build").len(), 1);
        let mine = open(BUILD_KEY);
        assert_eq!(
            mine.file(),
            other.file(),
            "one file per project, whatever the build"
        );
        assert!(mine.is_empty(), "another build's entries are never read");
        let reason = mine.ignored().unwrap_or_default();
        assert!(reason.contains("another build"), "{reason}");
        mine.store(&[stored(&file, text)], true);
        let again = open(BUILD_KEY);
        assert_eq!(again.len(), 1, "rewritten under this build's key");
        let m = again.migration(0, &file, true).unwrap();
        assert_eq!(m.revision.as_ref().unwrap().value, "a");
        assert!(open("0.0.0-another-build").is_empty());
        assert_ne!(BUILD_KEY, env!("CARGO_PKG_VERSION"));
        assert!(BUILD_KEY.starts_with(env!("CARGO_PKG_VERSION")));
    }

    /// Item 15: a cache file made with another machine's secret is ignored.
    #[test]
    fn a_cache_made_with_another_secret_is_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, root) = (tmp.path().join("cache"), tmp.path().to_path_buf());
        let file = root.join("a.py");
        let open = |k: u8| Cache::open_keyed(&dir, &root, &[], 0, Secret([k; 32]), false);
        open(1).store(&[stored(&file, "revision = 'a'\n")], true);
        assert_eq!(open(1).len(), 1);
        assert!(open(2).is_empty());
    }

    #[test]
    fn the_secret_is_created_once_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let a = load_secret(tmp.path());
        assert_eq!(load_secret(tmp.path()), a);
        let key = tmp.path().join("migverify/key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "only the user reads the key");
        }
        std::fs::remove_file(&key).unwrap();
        assert_ne!(load_secret(tmp.path()), a, "a new key");
    }
}
