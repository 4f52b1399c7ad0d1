//! The extraction cache: what [`crate::migration`] extracted from each file, so a
//! run over unchanged files neither parses nor, usually, reads them.
//!
//! One file per project and set of version locations:
//! `<cache dir>/<tool version>/<xxh3 of root and locations>.bin`: a header (magic,
//! [`CACHE_FORMAT`], tool version, the length of the ops section and xxh3-128
//! checksums of both sections), the ops section, then the index section. Each
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
//! one it always was. A cache file that is missing, truncated, corrupt or from another version is
//! ignored; one that cannot be written is skipped. Writes go through a temporary
//! file and a rename, so concurrent runs never see half a file.
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

/// Bump when the layout of the cache file or of the cached model changes, or when
/// extraction reads the same file differently (5: TabError problems; 6: bracket
/// and line-break problems; 7: identifier values that are not literals kept as
/// expressions, with the module's names, to resolve at every run).
pub const CACHE_FORMAT: u32 = 7;

/// The default cache directory name, under the project root.
pub const DEFAULT_DIR: &str = ".migverify_cache";

/// How close (in ns) a file's mtime or ctime may be to the moment its content was
/// hashed before its stamps stop proving it unchanged: more than the coarsest
/// timestamp granularity of common file systems (FAT's 2 s) and clock skew on a
/// network file system of a second.
pub const RACY_NS: i128 = 3_000_000_000;

const MAGIC: &[u8; 8] = b"MVCACHE\0";
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

/// The fixed part of the header after the version: ops section length, ops
/// section checksum, index section checksum.
const HEADER_TAIL: usize = 8 + 16 + 16;

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
        match std::fs::File::open(&cache.file) {
            Ok(handle) => {
                if let Err(why) = cache.load(handle) {
                    note(
                        verbose,
                        &format!("ignoring {}: {why}", cache.file.display()),
                    );
                    cache.entries.clear();
                    cache.handle = None;
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

    /// Reads the header and the index section of an open cache file.
    fn load(&mut self, mut handle: std::fs::File) -> Result<(), String> {
        let size = handle.metadata().map_err(|e| e.to_string())?.len();
        let mut head =
            vec![0u8; (MAGIC.len() + 8 + VERSION.len() + HEADER_TAIL).min(size as usize)];
        handle.read_exact(&mut head).map_err(|e| e.to_string())?;
        let rest = head
            .strip_prefix(MAGIC)
            .ok_or("not a migverify cache file")?;
        let (format, rest) = take_u32(rest)?;
        if format != CACHE_FORMAT {
            return Err(format!("cache format {format}, expected {CACHE_FORMAT}"));
        }
        let (len, rest) = take_u32(rest)?;
        let len = len as usize;
        if rest.len() < len + HEADER_TAIL || &rest[..len] != VERSION.as_bytes() {
            return Err("written by another version".into());
        }
        let tail = &rest[len..];
        let ops_len = u64::from_le_bytes(tail[..8].try_into().expect("8 bytes"));
        let ops_checksum = u128::from_le_bytes(tail[8..24].try_into().expect("16 bytes"));
        let index_checksum = u128::from_le_bytes(tail[24..40].try_into().expect("16 bytes"));
        let ops_at = head.len() as u64;
        let index_at = ops_at.checked_add(ops_len).ok_or("truncated")?;
        if index_at > size {
            return Err("truncated".into());
        }
        let mut index = vec![0u8; (size - index_at) as usize];
        handle
            .seek(SeekFrom::Start(index_at))
            .and_then(|_| handle.read_exact(&mut index))
            .map_err(|e| e.to_string())?;
        if xxh3_128(&index) != index_checksum {
            return Err("checksum mismatch (truncated or corrupt)".into());
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
        let mut header = Vec::with_capacity(96);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&CACHE_FORMAT.to_le_bytes());
        header.extend_from_slice(&(VERSION.len() as u32).to_le_bytes());
        header.extend_from_slice(VERSION.as_bytes());
        header.extend_from_slice(&ops_len.to_le_bytes());
        header.extend_from_slice(&ops_hash.digest128().to_le_bytes());
        header.extend_from_slice(&xxh3_128(&section).to_le_bytes());

        let parent = self.file.parent().expect("cache file has a directory");
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        let gitignore = self.dir.join(".gitignore");
        if !gitignore.exists() {
            std::fs::write(&gitignore, GITIGNORE).map_err(|e| e.to_string())?;
        }
        // No fsync: a cache file lost or torn by a crash fails its checksum and
        // is ignored.
        let tmp = tempfile::NamedTempFile::new_in(parent).map_err(|e| e.to_string())?;
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
    let marker = std::fs::read_to_string(dir.join(".gitignore")).unwrap_or_default();
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
