//! The extraction cache: what [`crate::migration`] extracted from each file, so a
//! run over unchanged files reads them but does not parse them again.
//!
//! One file per project and set of version locations:
//! `<cache dir>/<tool version>/<xxh3 of root and locations>.bin`, holding a header
//! (magic, [`CACHE_FORMAT`], tool version, xxh3-128 checksum of the payload) and a
//! bincode payload: for each file its path, size, mtime, the xxh3-128 hash of its
//! bytes and the extracted [`Migration`] (without the source text).
//!
//! An entry is used when size, mtime **and** content hash all match the file as
//! read in this run; the text is then rebuilt from the bytes just read (reading is
//! cheap, parsing is the cost). Configuration does not affect extraction, so it is
//! not part of the key, except for the enabled query rules, whose matches are
//! extracted with the rest: each set of them (its fingerprint) has its own file,
//! and with none enabled the file is the one it always was. A cache file that is missing, truncated, corrupt or from
//! another version is ignored; one that cannot be written is skipped. Writes go
//! through a temporary file and a rename, so concurrent runs never see half a file.
//! `--stdin-filename` content and unreadable files are never stored.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, xxh3_128};

use crate::migration::Migration;
use crate::source::SourceFile;

/// Bump when the layout of the cache file or of the cached model changes.
pub const CACHE_FORMAT: u32 = 2;

/// The default cache directory name, under the project root.
pub const DEFAULT_DIR: &str = ".migverify_cache";

const MAGIC: &[u8; 8] = b"MVCACHE\0";
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The first line of the `.gitignore` written in the cache directory; `clean`
/// removes only directories that hold it.
const GITIGNORE: &str = "# Automatically created by migverify.\n*\n";

/// What a cached extraction is valid for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    pub size: u64,
    pub mtime_ns: i128,
    pub hash: u128,
}

impl Key {
    /// The key of `bytes` read from a file with metadata `meta`.
    pub fn new(meta: &std::fs::Metadata, bytes: &[u8]) -> Key {
        let mtime_ns = meta
            .modified()
            .ok()
            .map(|t| match t.duration_since(UNIX_EPOCH) {
                Ok(d) => d.as_nanos() as i128,
                Err(e) => -(e.duration().as_nanos() as i128),
            })
            .unwrap_or(0);
        Key {
            size: meta.len(),
            mtime_ns,
            hash: xxh3_128(bytes),
        }
    }
}

#[derive(Deserialize)]
struct Entry {
    key: Key,
    migration: Migration,
}

/// [`Entry`], borrowed, for writing (serializes identically).
#[derive(Serialize)]
struct EntryRef<'a> {
    key: Key,
    migration: &'a Migration,
}

/// A project's cache, as loaded at the start of a run.
pub struct Cache {
    file: PathBuf,
    dir: PathBuf,
    entries: HashMap<PathBuf, Entry>,
    loaded: usize,
    verbose: bool,
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
        let entries = match std::fs::read(&file) {
            Ok(bytes) => decode(&bytes).unwrap_or_else(|why| {
                note(verbose, &format!("ignoring {}: {why}", file.display()));
                HashMap::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => {
                note(verbose, &format!("cannot read {}: {e}", file.display()));
                HashMap::new()
            }
        };
        Cache {
            file,
            dir: dir.to_path_buf(),
            loaded: entries.len(),
            entries,
            verbose,
        }
    }

    /// The path of the cache file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Takes the entry for `path` out of the cache (for lookups on other threads).
    pub fn take(&mut self, path: &Path) -> Option<CachedEntry> {
        self.entries.remove(path).map(CachedEntry)
    }

    /// Writes `migrations` (with their keys) when they differ from what was
    /// loaded: a file parsed, a file gone. Failures are only noted.
    pub fn store(&self, migrations: &[(&Migration, Key)], hits: usize) {
        if hits == self.loaded && migrations.len() == hits {
            return;
        }
        if let Err(why) = self.write(migrations) {
            note(
                self.verbose,
                &format!("cannot write {}: {why}", self.file.display()),
            );
        }
    }

    fn write(&self, migrations: &[(&Migration, Key)]) -> Result<(), String> {
        let refs: Vec<EntryRef> = migrations
            .iter()
            .map(|&(migration, key)| EntryRef { key, migration })
            .collect();
        let payload = bincode::serde::encode_to_vec(&refs, bincode::config::standard())
            .map_err(|e| e.to_string())?;
        let mut bytes = Vec::with_capacity(payload.len() + 64);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&CACHE_FORMAT.to_le_bytes());
        bytes.extend_from_slice(&(VERSION.len() as u32).to_le_bytes());
        bytes.extend_from_slice(VERSION.as_bytes());
        bytes.extend_from_slice(&xxh3_128(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);

        let parent = self.file.parent().expect("cache file has a directory");
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        let gitignore = self.dir.join(".gitignore");
        if !gitignore.exists() {
            std::fs::write(&gitignore, GITIGNORE).map_err(|e| e.to_string())?;
        }
        // No fsync: a cache file lost or torn by a crash fails its checksum and
        // is ignored.
        let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(|e| e.to_string())?;
        tmp.write_all(&bytes).map_err(|e| e.to_string())?;
        tmp.persist(&self.file).map_err(|e| e.error.to_string())?;
        Ok(())
    }
}

/// A cached extraction taken out of a [`Cache`].
pub struct CachedEntry(Entry);

impl CachedEntry {
    pub fn key(&self) -> Key {
        self.0.key
    }

    pub fn migration(&self) -> &Migration {
        &self.0.migration
    }

    /// The migration, its source rebuilt from `bytes`, if `key` (of `bytes`, read
    /// from `path`) matches; else the bytes back, to parse.
    pub fn check(self, path: &Path, key: Key, bytes: Vec<u8>) -> Result<Migration, Vec<u8>> {
        let Entry {
            key: cached,
            mut migration,
        } = self.0;
        if cached != key || migration.path != path {
            return Err(bytes);
        }
        migration.source = Arc::new(SourceFile::from_bytes(path.to_path_buf(), bytes));
        Ok(migration)
    }
}

fn decode(bytes: &[u8]) -> Result<HashMap<PathBuf, Entry>, String> {
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or("not a migverify cache file")?;
    let (format, rest) = take_u32(rest)?;
    if format != CACHE_FORMAT {
        return Err(format!("cache format {format}, expected {CACHE_FORMAT}"));
    }
    let (len, rest) = take_u32(rest)?;
    let len = len as usize;
    if rest.len() < len + 16 {
        return Err("truncated".into());
    }
    if &rest[..len] != VERSION.as_bytes() {
        return Err("written by another version".into());
    }
    let rest = &rest[len..];
    let checksum = u128::from_le_bytes(rest[..16].try_into().expect("16 bytes"));
    let payload = &rest[16..];
    if xxh3_128(payload) != checksum {
        return Err("checksum mismatch (truncated or corrupt)".into());
    }
    let (entries, read): (Vec<Entry>, usize) =
        bincode::serde::decode_from_slice(payload, bincode::config::standard())
            .map_err(|e| e.to_string())?;
    if read != payload.len() {
        return Err("trailing bytes".into());
    }
    Ok(entries
        .into_iter()
        .map(|e| (e.migration.path.clone(), e))
        .collect())
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
