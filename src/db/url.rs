//! Database URLs: sqlx forms and SQLAlchemy forms, `${VAR}` interpolation, and a
//! redacted display. The password is held in a [`Secret`] whose `Debug` and `Display`
//! print `***`; nothing in this module ever formats it.

use std::fmt;
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

use super::snapshot::Dialect;

/// A password. `Debug` and `Display` print `***`; [`Secret::expose`] is the only way out.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The password itself, for the driver. Never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A URL that could not be used. Messages show the URL redacted, never the password.
#[derive(Debug, Error, Diagnostic, PartialEq, Eq)]
pub enum UrlError {
    #[error("environment variable `{name}` is not set (referenced in the database URL)")]
    #[diagnostic(
        code(migverify::db::url),
        help("export {name}=... or write the URL without `${{{name}}}`")
    )]
    UnsetVariable { name: String },

    #[error("unterminated `${{` in the database URL `{url}`")]
    #[diagnostic(code(migverify::db::url), help("write `${{NAME}}`"))]
    UnterminatedVariable { url: String },

    #[error("unsupported database URL scheme `{scheme}` in `{url}`")]
    #[diagnostic(
        code(migverify::db::url),
        help(
            "supported: postgresql[+asyncpg|+psycopg2|+psycopg]://, postgres://, \
             mysql[+pymysql|+aiomysql|+mysqldb]://, mariadb[+mariadbconnector|+pymysql]://, sqlite:///"
        )
    )]
    UnsupportedScheme { scheme: String, url: String },

    #[error("invalid database URL `{url}`: {reason}")]
    #[diagnostic(code(migverify::db::url))]
    Invalid { url: String, reason: String },
}

/// Where a SQLite database lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqliteTarget {
    File(PathBuf),
    Memory,
}

/// A client/server database's address.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub host: String,
    /// The port given, or the dialect's default (5432, 3306).
    pub port: u16,
    /// A Unix socket directory or file (`?host=/run/postgresql`, `?unix_socket=...`).
    pub socket: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub database: Option<String>,
    /// Query options, percent-decoded, in order (e.g. `sslmode=require`).
    pub params: Vec<(String, String)>,
}

impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("socket", &self.socket)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("database", &self.database)
            .field("params", &RedactedParams(&self.params))
            .finish()
    }
}

struct RedactedParams<'a>(&'a [(String, String)]);

impl fmt::Debug for RedactedParams<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, v)| {
                let v = if is_secret_param(k) {
                    "***"
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            }))
            .finish()
    }
}

impl ServerUrl {
    /// The value of a query option (the last one given).
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// `host:port`, or the socket path.
    pub fn address(&self) -> String {
        match &self.socket {
            Some(s) => s.display().to_string(),
            None if self.host.contains(':') => format!("[{}]:{}", self.host, self.port),
            None => format!("{}:{}", self.host, self.port),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Server(ServerUrl),
    Sqlite(SqliteTarget),
}

/// A parsed database URL. `Debug` and [`DbUrl::redacted`] never show the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbUrl {
    /// The dialect the scheme names. A `mysql://` URL may turn out to be a MariaDB
    /// server; the snapshot records what the server says.
    pub dialect: Dialect,
    /// The scheme as written (`postgresql+asyncpg`), for display.
    pub scheme: String,
    pub target: Target,
}

impl DbUrl {
    /// Parses a URL (no interpolation). A relative SQLite path is resolved against `base`
    /// (the project root).
    pub fn parse(url: &str, base: &Path) -> Result<DbUrl, UrlError> {
        parse(url, base)
    }

    /// Interpolates `${VAR}` through `lookup`, then parses.
    pub fn parse_with_env(
        url: &str,
        base: &Path,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<DbUrl, UrlError> {
        let expanded = interpolate(url, lookup)?;
        parse(&expanded, base)
    }

    /// A value that displays the URL with the password as `***`.
    pub fn redacted(&self) -> Redacted<'_> {
        Redacted(self)
    }

    pub fn password(&self) -> Option<&Secret> {
        match &self.target {
            Target::Server(s) => s.password.as_ref(),
            Target::Sqlite(_) => None,
        }
    }

    pub fn server(&self) -> Option<&ServerUrl> {
        match &self.target {
            Target::Server(s) => Some(s),
            Target::Sqlite(_) => None,
        }
    }

    /// Replaces every occurrence of the password in `text` by `***` (for driver and
    /// server messages, which should not contain it, but we do not take the chance).
    pub fn scrub(&self, text: &str) -> String {
        match self.password() {
            Some(p) if !p.expose().is_empty() => {
                let mut out = text.replace(p.expose(), "***");
                let enc = percent_encode(p.expose());
                if enc != p.expose() {
                    out = out.replace(&enc, "***");
                }
                out
            }
            _ => text.to_string(),
        }
    }
}

/// Displays a [`DbUrl`] with the password replaced by `***`.
pub struct Redacted<'a>(&'a DbUrl);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        match &url.target {
            Target::Sqlite(SqliteTarget::Memory) => write!(f, "{}:///:memory:", url.scheme),
            // An absolute path gives SQLAlchemy's four slashes, `sqlite:////var/app.db`.
            Target::Sqlite(SqliteTarget::File(p)) => {
                write!(f, "{}:///{}", url.scheme, p.display())
            }
            Target::Server(s) => {
                write!(f, "{}://", url.scheme)?;
                if let Some(u) = &s.username {
                    f.write_str(&percent_encode(u))?;
                    if s.password.is_some() {
                        f.write_str(":***")?;
                    }
                    f.write_str("@")?;
                } else if s.password.is_some() {
                    f.write_str(":***@")?;
                }
                if s.host.contains(':') {
                    write!(f, "[{}]:{}", s.host, s.port)?;
                } else {
                    write!(f, "{}:{}", s.host, s.port)?;
                }
                if let Some(db) = &s.database {
                    write!(f, "/{}", percent_encode(db))?;
                }
                for (i, (k, v)) in s.params.iter().enumerate() {
                    let sep = if i == 0 { '?' } else { '&' };
                    let v = if is_secret_param(k) {
                        "***".to_string()
                    } else {
                        percent_encode(v)
                    };
                    write!(f, "{sep}{}={v}", percent_encode(k))?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn is_secret_param(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password") || k == "passwd" || k.contains("secret") || k.contains("token")
}

/// Replaces `${NAME}` by `lookup(NAME)`; `$$` stands for a literal `$`. An unset
/// variable is an error naming it.
pub fn interpolate(
    input: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, UrlError> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(end) = inner.find('}') else {
                return Err(UrlError::UnterminatedVariable {
                    url: redact_raw(input),
                });
            };
            let name = &inner[..end];
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => {
                    return Err(UrlError::UnsetVariable {
                        name: name.to_string(),
                    });
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Best-effort redaction of a URL that did not parse: the part of the user info after
/// `:` (up to the last `@` of the authority) and secret-looking query values become `***`.
pub fn redact_raw(url: &str) -> String {
    // SQLAlchemy takes everything up to the last `@` as the password, `/`, `?` and `#`
    // included; such a URL does not parse here, and its error must not show it.
    if let Some(colon) = url.find(':') {
        let start = colon
            + 1
            + if url[colon + 1..].starts_with("//") {
                2
            } else {
                0
            };
        if let Some(r) = sqlalchemy_password(&url[start..])
            && url[start + r.start..start + r.end].contains(['/', '?', '#'])
        {
            let masked = format!("{}***{}", &url[..start + r.start], &url[start + r.end..]);
            return redact_rfc(&masked);
        }
    }
    redact_rfc(url)
}

/// The password's byte range in `rest` (the URL after `scheme://`) as SQLAlchemy
/// reads it: the user name runs to the first `:`, with no `/`, `@`, `?` or `#`
/// before it, and the password from there to the last `@`.
fn sqlalchemy_password(rest: &str) -> Option<std::ops::Range<usize>> {
    let colon = rest.find([':', '/', '@', '?', '#'])?;
    if rest.as_bytes()[colon] != b':' {
        return None;
    }
    let at = rest.rfind('@')?;
    (at > colon).then_some(colon + 1..at)
}

fn redact_rfc(url: &str) -> String {
    let Some(colon) = url.find(':') else {
        return url.to_string();
    };
    let mut auth_start = colon + 1;
    if url[auth_start..].starts_with("//") {
        auth_start += 2;
    }
    let rest = &url[auth_start..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    let mut out = url[..auth_start].to_string();
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(c) => {
                    out.push_str(&userinfo[..c]);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let tail = &rest[auth_end..];
    match tail.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let parts: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if is_secret_param(k) => format!("{k}=***"),
                    _ => pair.to_string(),
                })
                .collect();
            out.push_str(&parts.join("&"));
        }
        None => out.push_str(tail),
    }
    out
}

/// `text` (a config file, `alembic.ini`) with the password of every URL in it, and
/// secret-looking query values, replaced by `*` byte for byte, so that spans into
/// the text stay valid. For snippets of files that may hold a database URL.
pub fn mask_passwords(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let ends = |b: u8| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'`');
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let start = from + found + 3;
        let end = text[start..]
            .bytes()
            .position(ends)
            .map_or(text.len(), |i| start + i);
        let url = &text.as_bytes()[start..end];
        let auth_end = url
            .iter()
            .position(|&b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(url.len());
        if let Some(at) = url[..auth_end].iter().rposition(|&b| b == b'@')
            && let Some(colon) = url[..at].iter().position(|&b| b == b':')
        {
            bytes[start + colon + 1..start + at].fill(b'*');
        }
        if let Some(r) = sqlalchemy_password(&text[start..end]) {
            bytes[start + r.start..start + r.end].fill(b'*');
        }
        if let Some(q) = url.iter().position(|&b| b == b'?') {
            let mut pos = start + q + 1;
            for pair in text[pos..end].split('&') {
                if let Some((k, v)) = pair.split_once('=')
                    && is_secret_param(k)
                {
                    let v_start = pos + k.len() + 1;
                    bytes[v_start..v_start + v.len()].fill(b'*');
                }
                pos += pair.len() + 1;
            }
        }
        mask_interpolated(text, &text[start..end], &mut bytes, 0);
        from = end.max(start);
    }
    // Only ASCII bytes were written over whole characters' bytes: still UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Masks, in `bytes`, the value of every `key = value` / `key: value` line of
/// `text` that `value` names as `%(key)s` (`alembic.ini`'s ConfigParser
/// interpolation: `sqlalchemy.url = postgresql://u:%(db_password)s@h/db`), and
/// the values those name in turn (up to ConfigParser's depth of 10).
fn mask_interpolated(text: &str, value: &str, bytes: &mut [u8], depth: usize) {
    if depth > 10 {
        return;
    }
    let mut rest = value;
    while let Some(at) = rest.find("%(") {
        let after = &rest[at + 2..];
        let Some(close) = after.find(")s") else {
            break;
        };
        let name = after[..close].trim().to_ascii_lowercase();
        rest = &after[close + 2..];
        if name.is_empty() || name == "here" {
            continue;
        }
        let mut line_start = 0;
        for line in text.split_inclusive('\n') {
            let body = line.trim_end_matches(['\n', '\r']);
            let trimmed = body.trim_start();
            if let Some(sep) = trimmed.find(['=', ':'])
                && trimmed[..sep].trim_end().eq_ignore_ascii_case(&name)
            {
                let v_start = line_start + (body.len() - trimmed.len()) + sep + 1;
                let v_end = line_start + body.len();
                let v = &text[v_start..v_end];
                for (i, c) in v.char_indices() {
                    if !c.is_whitespace() {
                        bytes[v_start + i..v_start + i + c.len_utf8()].fill(b'*');
                    }
                }
                mask_interpolated(text, v, bytes, depth + 1);
            }
            line_start += line.len();
        }
    }
}

pub(crate) fn dialect_of(scheme: &str) -> Option<Dialect> {
    let lower = scheme.to_ascii_lowercase();
    let (base, driver) = match lower.split_once('+') {
        Some((b, d)) => (b.to_string(), Some(d.to_string())),
        None => (lower, None),
    };
    let driver = driver.as_deref();
    match base.as_str() {
        "postgres" | "postgresql" => match driver {
            None | Some("asyncpg" | "psycopg2" | "psycopg" | "psycopg2cffi" | "pg8000") => {
                Some(Dialect::Postgresql)
            }
            _ => None,
        },
        "mysql" => match driver {
            None
            | Some(
                "pymysql" | "aiomysql" | "mysqldb" | "asyncmy" | "mysqlconnector"
                | "mariadbconnector",
            ) => Some(Dialect::Mysql),
            _ => None,
        },
        "mariadb" => match driver {
            None
            | Some(
                "mariadbconnector" | "pymysql" | "aiomysql" | "mysqldb" | "asyncmy"
                | "mysqlconnector",
            ) => Some(Dialect::Mariadb),
            _ => None,
        },
        "sqlite" => match driver {
            None | Some("pysqlite" | "aiosqlite") => Some(Dialect::Sqlite),
            _ => None,
        },
        _ => None,
    }
}

fn parse(url: &str, base: &Path) -> Result<DbUrl, UrlError> {
    match parse_rfc(url, base) {
        Ok(parsed) => Ok(parsed),
        // SQLAlchemy reads `/`, `?` and `#` in a password literally; a URL that only
        // parses that way is read that way (only URLs that fail otherwise).
        Err(err) => match sqlalchemy_reading(url.trim()) {
            Some(encoded) => parse_rfc(&encoded, base).map_err(|_| err),
            None => Err(err),
        },
    }
}

/// `url` with its password, as SQLAlchemy delimits it (from the first `:` of the user
/// info to the next `@`), `/ ? #` percent-encoded; `None` when there is no such
/// password or it holds none of them.
fn sqlalchemy_reading(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.to_ascii_lowercase().starts_with("sqlite") {
        return None;
    }
    let colon = rest.find([':', '/', '@', '?', '#'])?;
    if rest.as_bytes()[colon] != b':' {
        return None;
    }
    let at = colon + 1 + rest[colon + 1..].find('@')?;
    let password = &rest[colon + 1..at];
    if !password.contains(['/', '?', '#']) {
        return None;
    }
    let encoded = password
        .replace('/', "%2F")
        .replace('?', "%3F")
        .replace('#', "%23");
    Some(format!(
        "{scheme}://{}:{encoded}@{}",
        &rest[..colon],
        &rest[at + 1..]
    ))
}

fn parse_rfc(url: &str, base: &Path) -> Result<DbUrl, UrlError> {
    let url = url.trim();
    let invalid = |reason: &str| UrlError::Invalid {
        url: redact_raw(url),
        reason: reason.to_string(),
    };
    let Some(colon) = url.find(':') else {
        return Err(invalid("expected `scheme://...`"));
    };
    let scheme = &url[..colon];
    let Some(dialect) = dialect_of(scheme) else {
        return Err(UrlError::UnsupportedScheme {
            scheme: scheme.to_string(),
            url: redact_raw(url),
        });
    };
    let rest = &url[colon + 1..];
    if dialect == Dialect::Sqlite {
        let target = parse_sqlite(rest, base).map_err(|r| invalid(&r))?;
        return Ok(DbUrl {
            dialect,
            scheme: scheme.to_string(),
            target: Target::Sqlite(target),
        });
    }
    let Some(rest) = rest.strip_prefix("//") else {
        return Err(invalid("expected `//` after the scheme"));
    };
    let rest = rest.split('#').next().unwrap_or("");
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], &before_query[i + 1..]),
        None => (before_query, ""),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(ui) => {
            let (u, p) = match ui.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (ui, None),
            };
            let u = percent_decode(u).map_err(|r| invalid(&format!("user name: {r}")))?;
            let p = match p {
                Some(p) => Some(Secret(
                    percent_decode(p).map_err(|_| invalid("password: bad percent-encoding"))?,
                )),
                None => None,
            };
            ((!u.is_empty()).then_some(u), p)
        }
    };
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        let Some(end) = h.find(']') else {
            return Err(invalid("unterminated `[` in the host"));
        };
        let port = h[end + 1..].strip_prefix(':');
        (h[..end].to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    let host = percent_decode(&host).map_err(|r| invalid(&format!("host: {r}")))?;
    let port = match port {
        Some("") | None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| invalid(&format!("port `{p}` is not a number from 0 to 65535")))?,
        ),
    };
    let database = if path.is_empty() {
        None
    } else {
        Some(percent_decode(path).map_err(|r| invalid(&format!("database name: {r}")))?)
    };
    let mut params = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(&k.replace('+', " ")).map_err(|r| invalid(&r))?;
        let v = percent_decode(&v.replace('+', " ")).map_err(|r| invalid(&r))?;
        params.push((k, v));
    }
    let default_port = match dialect {
        Dialect::Postgresql => 5432,
        _ => 3306,
    };
    let mut socket = None;
    let mut host = if host.is_empty() {
        "localhost".to_string()
    } else {
        host
    };
    // libpq/SQLAlchemy: `?host=/run/postgresql`; PyMySQL: `?unix_socket=/path`.
    // `?user=` is the user to connect as (SQLAlchemy passes the query to the
    // driver after the URL's parts, so it wins over a user written before `@`).
    let mut username = username;
    params.retain(|(k, v)| {
        let k = k.to_ascii_lowercase();
        if k == "user" && !v.is_empty() {
            username = Some(v.clone());
            false
        } else if (k == "host" && v.starts_with('/')) || k == "unix_socket" || k == "socket" {
            socket = Some(PathBuf::from(v));
            false
        } else if k == "host" && !v.is_empty() {
            host = v.clone();
            false
        } else {
            true
        }
    });
    Ok(DbUrl {
        dialect,
        scheme: scheme.to_string(),
        target: Target::Server(ServerUrl {
            host,
            port: port.unwrap_or(default_port),
            socket,
            username,
            password,
            database,
            params,
        }),
    })
}

/// SQLite forms, after `sqlite:`:
/// - `///:memory:`, `//` (empty), `:memory:`, `//:memory:` → in memory;
/// - `////abs/path.db` → `/abs/path.db` (SQLAlchemy);
/// - `///rel/path.db` → `base/rel/path.db` (SQLAlchemy; note sqlx reads this as absolute);
/// - `//rel.db`, `rel.db` → `base/rel.db` (sqlx).
fn parse_sqlite(rest: &str, base: &Path) -> Result<SqliteTarget, String> {
    let rest = rest.split('?').next().unwrap_or("");
    let path = if let Some(p) = rest.strip_prefix("///") {
        p
    } else if let Some(p) = rest.strip_prefix("//") {
        p
    } else {
        rest
    };
    if path.is_empty() || path == ":memory:" {
        return Ok(SqliteTarget::Memory);
    }
    let path = percent_decode(path)?;
    let p = PathBuf::from(&path);
    if p.is_absolute() {
        Ok(SqliteTarget::File(p))
    } else {
        Ok(SqliteTarget::File(base.join(p)))
    }
}

/// Characters kept as they are when a URL part is encoded: RFC 3986's unreserved set.
const URL_PART: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Decodes `%XX` escapes as SQLAlchemy's `unquote` does (a `%` not followed by two
/// hex digits stays as it is); the result must be UTF-8.
fn percent_decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "percent-encoding is not UTF-8".to_string())
}

fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, URL_PART).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(url: &str) -> DbUrl {
        DbUrl::parse(url, Path::new("/proj")).unwrap()
    }

    fn server(url: &str) -> ServerUrl {
        p(url).server().unwrap().clone()
    }

    #[test]
    fn mask_passwords_keeps_offsets() {
        let text = "[database]\nurl = \"postgresql://app:S3cr=t@db:5432/x?sslmode=require&password=Qz9\"\n\
                    # mysql://root@h/db sqlite:///a.db ://\n\
                    sqlalchemy.url = mysql+pymysql://u:pässwörd@h/db\n";
        let masked = mask_passwords(text);
        assert_eq!(masked.len(), text.len());
        for secret in ["S3cr=t", "Qz9", "pässwörd"] {
            assert!(!masked.contains(secret), "{masked}");
        }
        assert!(
            masked.contains("postgresql://app:******@db:5432/x?sslmode=require&password=***\"")
        );
        assert!(masked.contains("# mysql://root@h/db sqlite:///a.db ://"));
        assert!(masked.contains("mysql+pymysql://u:**********@h/db"));
        assert_eq!(mask_passwords("no urls here"), "no urls here");
        // alembic.ini interpolation: the values named in the URL, and theirs.
        let ini = "[alembic]\nDB_Password = Hunter2 x\nuser: %(base)s\nbase = app\n\
                   sqlalchemy.url = postgresql://%(user)s:%(db_password)s@h/db\nother = keep\n";
        let masked = mask_passwords(ini);
        assert_eq!(masked.len(), ini.len());
        assert!(!masked.contains("Hunter2"), "{masked}");
        assert!(masked.contains("DB_Password = ******* *\n"), "{masked}");
        assert!(masked.contains("base = ***\n"), "{masked}");
        assert!(masked.contains("other = keep"), "{masked}");
        // SQLAlchemy reads `/`, `?` and `#` as part of a password.
        let masked = mask_passwords("url = 'postgresql://u:Pa/S?S#W@h/db'");
        assert_eq!(masked, "url = 'postgresql://u:********@h/db'");
    }

    #[test]
    fn a_sqlalchemy_password_may_hold_slash_question_mark_and_hash() {
        let s =
            server("postgresql+psycopg2://app:Pa/SS?W#D%41@db.example:6543/shop?sslmode=require");
        assert_eq!(s.password.as_ref().unwrap().expose(), "Pa/SS?W#DA");
        assert_eq!((s.host.as_str(), s.port), ("db.example", 6543));
        assert_eq!(s.database.as_deref(), Some("shop"));
        assert_eq!(s.param("sslmode"), Some("require"));
        let u = p("mysql+pymysql://root:a/b@localhost/app");
        assert_eq!(
            u.redacted().to_string(),
            "mysql+pymysql://root:***@localhost:3306/app"
        );
        // Still wrong after that reading: the error hides the password.
        for url in [
            "postgresql://u:Pa/SSWORD@127.0.0.1:99999/db",
            "postgresql://u:Pa?SSWORD@[::1/db",
            "postgresql://u:Pa#SSWORD@127.0.0.1:x/db",
        ] {
            let e = DbUrl::parse(url, Path::new("/")).unwrap_err();
            assert!(!e.to_string().contains("SSWORD"), "{e}");
            assert!(e.to_string().contains("u:***@"), "{e}");
        }
    }

    #[test]
    fn postgres_forms() {
        for scheme in [
            "postgresql+asyncpg",
            "postgresql+psycopg2",
            "postgresql+psycopg",
            "postgresql",
            "postgres",
        ] {
            let u = p(&format!("{scheme}://app:pw@db.example:6543/appdb"));
            assert_eq!(u.dialect, Dialect::Postgresql, "{scheme}");
            let s = u.server().unwrap();
            assert_eq!(s.host, "db.example");
            assert_eq!(s.port, 6543);
            assert_eq!(s.username.as_deref(), Some("app"));
            assert_eq!(s.password.as_ref().unwrap().expose(), "pw");
            assert_eq!(s.database.as_deref(), Some("appdb"));
            assert_eq!(
                u.redacted().to_string(),
                format!("{scheme}://app:***@db.example:6543/appdb")
            );
        }
        let s = server("postgres://localhost/x");
        assert_eq!(s.port, 5432);
        assert!(s.username.is_none() && s.password.is_none());
    }

    #[test]
    fn mysql_and_mariadb_forms() {
        for (scheme, dialect) in [
            ("mysql+pymysql", Dialect::Mysql),
            ("mysql+aiomysql", Dialect::Mysql),
            ("mysql+mysqldb", Dialect::Mysql),
            ("mysql", Dialect::Mysql),
            ("mariadb+mariadbconnector", Dialect::Mariadb),
            ("mariadb+pymysql", Dialect::Mariadb),
            ("mariadb", Dialect::Mariadb),
        ] {
            let u = p(&format!("{scheme}://root@127.0.0.1/shop?charset=utf8mb4"));
            assert_eq!(u.dialect, dialect, "{scheme}");
            let s = u.server().unwrap();
            assert_eq!(s.port, 3306);
            assert_eq!(s.database.as_deref(), Some("shop"));
            assert_eq!(s.param("charset"), Some("utf8mb4"));
            assert!(s.password.is_none());
        }
    }

    #[test]
    fn sqlite_forms() {
        assert_eq!(
            p("sqlite:///app.db").target,
            Target::Sqlite(SqliteTarget::File("/proj/app.db".into()))
        );
        assert_eq!(
            p("sqlite:///data/app.db").target,
            Target::Sqlite(SqliteTarget::File("/proj/data/app.db".into()))
        );
        assert_eq!(
            p("sqlite:////var/lib/app.db").target,
            Target::Sqlite(SqliteTarget::File("/var/lib/app.db".into()))
        );
        for m in [
            "sqlite:///:memory:",
            "sqlite://",
            "sqlite::memory:",
            "sqlite://:memory:",
        ] {
            assert_eq!(p(m).target, Target::Sqlite(SqliteTarget::Memory), "{m}");
        }
        assert_eq!(
            p("sqlite://rel.db").target,
            Target::Sqlite(SqliteTarget::File("/proj/rel.db".into()))
        );
        assert_eq!(
            p("sqlite+aiosqlite:///a.db?mode=ro").target,
            Target::Sqlite(SqliteTarget::File("/proj/a.db".into()))
        );
        assert_eq!(
            p("sqlite:////var/lib/app.db").redacted().to_string(),
            "sqlite:////var/lib/app.db"
        );
        assert_eq!(
            p("sqlite:///:memory:").redacted().to_string(),
            "sqlite:///:memory:"
        );
    }

    #[test]
    fn query_options_kept_and_host_param() {
        let s = server("postgresql://u@h/db?sslmode=verify-full&application_name=mv");
        assert_eq!(s.param("sslmode"), Some("verify-full"));
        assert_eq!(s.param("application_name"), Some("mv"));
        let q = server("postgresql://h:5433/db?user=alice&sslmode=disable");
        assert_eq!(q.username.as_deref(), Some("alice"));
        assert_eq!(q.params, vec![("sslmode".into(), "disable".into())]);
        let q = server("mysql://bob@h/db?user=carol");
        assert_eq!(q.username.as_deref(), Some("carol"));
        let s = server("postgresql://u@/db?host=/run/postgresql");
        assert_eq!(s.socket.as_deref(), Some(Path::new("/run/postgresql")));
        let s = server("postgresql+asyncpg://u@/db?host=10.0.0.5");
        assert_eq!(s.host, "10.0.0.5");
        let s = server("postgres://u@[::1]:5433/db");
        assert_eq!((s.host.as_str(), s.port), ("::1", 5433));
        assert_eq!(s.address(), "[::1]:5433");
    }

    #[test]
    fn percent_encoded_password() {
        let u = p("postgresql://app:p%40ss%3Aw%2Ford@h:5432/db");
        assert_eq!(u.password().unwrap().expose(), "p@ss:w/ord");
        let shown = u.redacted().to_string();
        assert_eq!(shown, "postgresql://app:***@h:5432/db");
        // An unencoded `@` in the password: the last `@` ends the user info.
        let u = p("mysql://app:p@ss@h/db");
        assert_eq!(u.password().unwrap().expose(), "p@ss");
        assert_eq!(u.server().unwrap().host, "h");
    }

    #[test]
    fn redaction_everywhere() {
        let u = p("postgresql://app:hunter2@h/db?password=hunter2");
        for text in [
            u.redacted().to_string(),
            format!("{u:?}"),
            format!("{:?}", u.server().unwrap()),
            format!("{:?}", u.redacted()),
        ] {
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert_eq!(u.scrub("auth failed: hunter2"), "auth failed: ***");
    }

    #[test]
    fn errors_do_not_show_the_password() {
        for bad in [
            "postgresql://app:hunter2@h:notaport/db",
            "oracle://app:hunter2@h/db",
            "postgresql:app:hunter2@h/db",
            "postgresql://app:hunter2@[::1/db",
            "postgresql://app@h:bad/db?password=hunter2",
            "postgresql://app:hunter2@h/db?x=%ff",
        ] {
            let e = DbUrl::parse(bad, Path::new("/")).unwrap_err();
            let text = format!("{e} {e:?}");
            assert!(!text.contains("hunter2"), "{text}");
        }
        let e = DbUrl::parse("oracle://app:hunter2@h/db", Path::new("/")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported database URL scheme `oracle` in `oracle://app:***@h/db`"
        );
        let e = DbUrl::parse("postgresql://a:b@h:99999/db", Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("port `99999`"), "{e}");
    }

    #[test]
    fn interpolation() {
        let env = |k: &str| match k {
            "DB_PASS" => Some("s3cret".to_string()),
            "DB_HOST" => Some("db".to_string()),
            _ => None,
        };
        let u = DbUrl::parse_with_env(
            "postgresql://app:${DB_PASS}@${DB_HOST}/x",
            Path::new("/"),
            env,
        )
        .unwrap();
        assert_eq!(u.password().unwrap().expose(), "s3cret");
        assert_eq!(u.server().unwrap().host, "db");
        assert_eq!(interpolate("a$$b$c", env).unwrap(), "a$b$c");
        let e = DbUrl::parse_with_env("postgresql://${NOPE}/x", Path::new("/"), env).unwrap_err();
        assert_eq!(
            e,
            UrlError::UnsetVariable {
                name: "NOPE".into()
            }
        );
        assert!(e.to_string().contains("`NOPE` is not set"));
        let e = interpolate("postgresql://a:pw@h/${X", env).unwrap_err();
        assert!(!e.to_string().contains("pw@"), "{e}");
    }
}
