//! Column types, normalised so that a SQLAlchemy type expression (`sa.String(50)`)
//! and a database's own spelling (`character varying(50)`, `varchar(50)`) compare.
//!
//! The normalisation is deliberately conservative: a type it does not know is
//! [`Kind::Unknown`], and an unknown type never differs from anything. Parameters
//! (length, precision, time zone) are compared only when both sides state them.
//! The table of spellings is in `docs/drift.md`.

use crate::db::snapshot::Dialect;
use crate::migration::Value;

/// A column type family with the parameters that matter for drift.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Integer,
    BigInteger,
    SmallInteger,
    /// `VARCHAR(n)`; the length when stated.
    String(Option<u32>),
    /// `CHAR(n)`.
    Char(Option<u32>),
    Text,
    Boolean,
    /// `timezone`: `Some` only when the spelling says so.
    DateTime(Option<bool>),
    Date,
    Time,
    /// Precision and scale when stated.
    Numeric(Option<(u32, Option<u32>)>),
    Float,
    Json,
    /// PostgreSQL's `JSONB` (alembic tells it from `JSON`).
    Jsonb,
    /// PostgreSQL's `ARRAY(item)`.
    Array(Box<Kind>),
    Uuid,
    Binary,
    /// An enumerated type: spelled too differently across dialects to compare.
    Enum,
    Unknown,
}

/// A column's type: the normalised kind and the text it was read from (for messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlType {
    pub kind: Kind,
    pub text: String,
}

impl SqlType {
    pub fn unknown() -> SqlType {
        SqlType {
            kind: Kind::Unknown,
            text: String::new(),
        }
    }

    /// A SQLAlchemy type expression: `sa.Integer`, `sa.String(50)`,
    /// `String(length=50)`, `sa.DateTime(timezone=True)`, `postgresql.UUID()`.
    pub fn from_sqlalchemy(value: &Value) -> SqlType {
        let (func, args): (&str, &[(Option<String>, Value)]) = match value {
            Value::Name(n) => (n.as_str(), &[]),
            Value::Call { func, args } => (func.as_str(), args.as_slice()),
            _ => return SqlType::unknown(),
        };
        let name = func.rsplit('.').next().unwrap_or(func);
        let int_arg = |pos: usize, kw: &str| -> Option<u32> {
            args.iter()
                .find(|(k, _)| k.as_deref() == Some(kw))
                .or_else(|| args.iter().filter(|(k, _)| k.is_none()).nth(pos))
                .and_then(|(_, v)| match v {
                    Value::Int(i) => u32::try_from(*i).ok(),
                    _ => None,
                })
        };
        let bool_kw = |kw: &str| -> Option<bool> {
            args.iter()
                .find(|(k, _)| k.as_deref() == Some(kw))
                .and_then(|(_, v)| v.as_bool())
        };
        let kind = match name {
            "Integer" | "INTEGER" | "INT" => Kind::Integer,
            "BigInteger" | "BIGINT" => Kind::BigInteger,
            "SmallInteger" | "SMALLINT" => Kind::SmallInteger,
            // SQLModel's `AutoString` is a `String`.
            "String" | "VARCHAR" | "Unicode" | "NVARCHAR" | "AutoString" => {
                Kind::String(int_arg(0, "length"))
            }
            "CHAR" | "NCHAR" => Kind::Char(int_arg(0, "length")),
            "Text" | "TEXT" | "UnicodeText" | "CLOB" => Kind::Text,
            "Boolean" | "BOOLEAN" => Kind::Boolean,
            // `DateTime()` is naive unless `timezone=True`.
            "DateTime" | "DATETIME" => Kind::DateTime(Some(bool_kw("timezone").unwrap_or(false))),
            "TIMESTAMP" => Kind::DateTime(Some(bool_kw("timezone").unwrap_or(false))),
            "Date" | "DATE" => Kind::Date,
            "Time" | "TIME" => Kind::Time,
            "Numeric" | "NUMERIC" | "DECIMAL" => {
                Kind::Numeric(int_arg(0, "precision").map(|p| (p, int_arg(1, "scale"))))
            }
            "Float" | "FLOAT" | "REAL" | "Double" | "DOUBLE" | "DOUBLE_PRECISION" => Kind::Float,
            "JSON" => Kind::Json,
            "JSONB" => Kind::Jsonb,
            "ARRAY" => {
                let item = args
                    .iter()
                    .find(|(k, _)| k.is_none() || k.as_deref() == Some("item_type"))
                    .map(|(_, v)| SqlType::from_sqlalchemy(v).kind)
                    .unwrap_or(Kind::Unknown);
                Kind::Array(Box::new(item))
            }
            "Uuid" | "UUID" => Kind::Uuid,
            "LargeBinary" | "BLOB" | "BYTEA" | "LargeBinaryType" => Kind::Binary,
            "Enum" | "ENUM" => Kind::Enum,
            _ => Kind::Unknown,
        };
        SqlType {
            kind,
            text: sqlalchemy_text(value),
        }
    }

    /// A type as a database reports it (`format_type` on PostgreSQL, `COLUMN_TYPE`
    /// on MySQL/MariaDB, the declared type on SQLite).
    pub fn from_database(text: &str, dialect: Dialect) -> SqlType {
        // PostgreSQL arrays: `character varying(20)[]`.
        if let Some(item) = text.trim().strip_suffix("[]") {
            let item = SqlType::from_database(item, dialect).kind;
            return SqlType {
                kind: Kind::Array(Box::new(item)),
                text: text.trim().to_string(),
            };
        }
        let lower = text.trim().to_ascii_lowercase();
        let (base, params) = match lower.find('(') {
            Some(i) => {
                let close = lower.rfind(')').unwrap_or(lower.len());
                let params: Vec<u32> = lower[i + 1..close.max(i + 1)]
                    .split(',')
                    .filter_map(|p| p.trim().parse().ok())
                    .collect();
                // `timestamp(6) with time zone`: keep the words after the parentheses.
                let rest = lower.get(close + 1..).unwrap_or("").trim();
                let base = format!("{} {}", lower[..i].trim(), rest);
                (base.trim().to_string(), params)
            }
            None => (lower.clone(), Vec::new()),
        };
        let base = base.trim_end_matches(" unsigned").trim();
        let first = params.first().copied();
        let mysql = matches!(dialect, Dialect::Mysql | Dialect::Mariadb);
        let kind = match base {
            "integer" | "int" | "int4" | "mediumint" => Kind::Integer,
            "bigint" | "int8" => Kind::BigInteger,
            "smallint" | "int2" => Kind::SmallInteger,
            // MySQL spells `Boolean` as `tinyint(1)`.
            "tinyint" if mysql && first == Some(1) => Kind::Boolean,
            "character varying" | "varchar" | "nvarchar" | "varchar2" => Kind::String(first),
            "character" | "char" | "bpchar" | "nchar" => Kind::Char(first),
            "text" | "tinytext" | "mediumtext" | "longtext" | "clob" => Kind::Text,
            "boolean" | "bool" => Kind::Boolean,
            "timestamp without time zone" => Kind::DateTime(Some(false)),
            "timestamp with time zone" | "timestamptz" => Kind::DateTime(Some(true)),
            "timestamp" if dialect == Dialect::Postgresql => Kind::DateTime(Some(false)),
            "timestamp" | "datetime" => Kind::DateTime(None),
            "date" => Kind::Date,
            "time" | "time without time zone" | "time with time zone" => Kind::Time,
            "numeric" | "decimal" => Kind::Numeric(first.map(|p| (p, params.get(1).copied()))),
            "double precision" | "double" | "real" | "float" | "float4" | "float8" => Kind::Float,
            "json" => Kind::Json,
            "jsonb" => Kind::Jsonb,
            "uuid" => Kind::Uuid,
            "bytea" | "blob" | "tinyblob" | "mediumblob" | "longblob" | "varbinary" => Kind::Binary,
            b if b.starts_with("enum") => Kind::Enum,
            _ => Kind::Unknown,
        };
        SqlType {
            kind,
            text: text.trim().to_string(),
        }
    }

    /// Whether two types certainly differ, as the dialect stores them (`None` when
    /// both sides are SQLAlchemy expressions). Unknown kinds never differ.
    pub fn differs(&self, other: &SqlType, dialect: Option<Dialect>) -> bool {
        !compatible(&self.kind, &other.kind, dialect)
    }
}

fn compatible(a: &Kind, b: &Kind, dialect: Option<Dialect>) -> bool {
    use Kind::*;
    let mysql = matches!(dialect, Some(Dialect::Mysql | Dialect::Mariadb));
    let non_pg = matches!(
        dialect,
        Some(Dialect::Mysql | Dialect::Mariadb | Dialect::Sqlite)
    );
    let same_opt = |x: &Option<u32>, y: &Option<u32>| x.is_none() || y.is_none() || x == y;
    match (a, b) {
        (Unknown | Enum, _) | (_, Unknown | Enum) => true,
        (String(x), String(y)) | (Char(x), Char(y)) => same_opt(x, y),
        (DateTime(x), DateTime(y)) => x.is_none() || y.is_none() || x == y,
        (Numeric(x), Numeric(y)) => match (x, y) {
            (Some((p1, s1)), Some((p2, s2))) => p1 == p2 && same_opt(s1, s2),
            _ => true,
        },
        // MariaDB stores JSON as LONGTEXT.
        (Json, Text) | (Text, Json) if mysql => true,
        // `JSONB` exists on PostgreSQL only.
        (Json, Jsonb) | (Jsonb, Json) => non_pg,
        (Array(x), Array(y)) => compatible(x, y, dialect),
        // Without a native UUID type SQLAlchemy's `Uuid` is `CHAR(32)`.
        (Uuid, Char(n)) | (Char(n), Uuid) if non_pg => n.is_none() || *n == Some(32),
        // SQLite's `BOOLEAN` and MySQL's `BOOL` are integers underneath, but both are
        // read back as such only when declared so; an integer column is not a boolean.
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

/// Source-like text of a SQLAlchemy type expression, for messages.
fn sqlalchemy_text(value: &Value) -> String {
    match value {
        Value::Name(n) => n.clone(),
        Value::Call { func, args } => {
            let args: Vec<String> = args
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::Int(i) => i.to_string(),
                        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
                        Value::Str(s) => format!("{s:?}"),
                        other => sqlalchemy_text(other),
                    };
                    match k {
                        Some(k) => format!("{k}={v}"),
                        None => v,
                    }
                })
                .collect();
            format!("{func}({})", args.join(", "))
        }
        Value::Other(t) => t.clone(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(func: &str, args: Vec<(Option<&str>, Value)>) -> SqlType {
        SqlType::from_sqlalchemy(&Value::Call {
            func: func.into(),
            args: args
                .into_iter()
                .map(|(k, v)| (k.map(str::to_string), v))
                .collect(),
        })
    }

    #[test]
    fn string_lengths_across_dialects() {
        let s50 = sa("sa.String", vec![(None, Value::Int(50))]);
        for (text, d) in [
            ("character varying(50)", Dialect::Postgresql),
            ("varchar(50)", Dialect::Mysql),
            ("VARCHAR(50)", Dialect::Sqlite),
        ] {
            assert!(
                !s50.differs(&SqlType::from_database(text, d), Some(d)),
                "{text}"
            );
        }
        let s80 = sa("String", vec![(Some("length"), Value::Int(80))]);
        assert!(s50.differs(&s80, None));
        assert!(s50.differs(
            &SqlType::from_database("character varying(80)", Dialect::Postgresql),
            Some(Dialect::Postgresql)
        ));
        // No length on one side: not comparable, no alarm.
        let s = SqlType::from_sqlalchemy(&Value::Name("sa.String".into()));
        assert!(!s.differs(&s80, None));
    }

    #[test]
    fn dialect_spellings() {
        let pg = Dialect::Postgresql;
        let my = Dialect::Mariadb;
        let int = SqlType::from_sqlalchemy(&Value::Name("sa.Integer".into()));
        assert!(!int.differs(&SqlType::from_database("integer", pg), Some(pg)));
        assert!(!int.differs(&SqlType::from_database("int(11)", my), Some(my)));
        assert!(int.differs(&SqlType::from_database("bigint", pg), Some(pg)));
        let b = SqlType::from_sqlalchemy(&Value::Name("sa.Boolean".into()));
        assert!(!b.differs(&SqlType::from_database("tinyint(1)", my), Some(my)));
        let tz = sa("sa.DateTime", vec![(Some("timezone"), Value::Bool(true))]);
        assert!(!tz.differs(
            &SqlType::from_database("timestamp with time zone", pg),
            Some(pg)
        ));
        assert!(tz.differs(
            &SqlType::from_database("timestamp without time zone", pg),
            Some(pg)
        ));
        assert!(!tz.differs(&SqlType::from_database("datetime", my), Some(my)));
        let json = SqlType::from_sqlalchemy(&Value::Name("sa.JSON".into()));
        assert!(!json.differs(&SqlType::from_database("longtext", my), Some(my)));
        let num = sa(
            "sa.Numeric",
            vec![(None, Value::Int(10)), (None, Value::Int(2))],
        );
        assert!(!num.differs(&SqlType::from_database("numeric(10,2)", pg), Some(pg)));
        assert!(num.differs(&SqlType::from_database("decimal(12,2)", my), Some(my)));
    }

    #[test]
    fn unknown_never_differs() {
        let custom = SqlType::from_sqlalchemy(&Value::Name("MyType".into()));
        let pg = Dialect::Postgresql;
        assert!(!custom.differs(&SqlType::from_database("integer", pg), Some(pg)));
        let e = sa("sa.Enum", vec![(None, Value::Str("a".into()))]);
        assert!(!e.differs(&SqlType::from_database("status_enum", pg), Some(pg)));
    }

    #[test]
    fn jsonb_arrays_and_autostring() {
        let pg = Dialect::Postgresql;
        let json = SqlType::from_sqlalchemy(&Value::Name("sa.JSON".into()));
        let jsonb = SqlType::from_sqlalchemy(&Value::Name("postgresql.JSONB".into()));
        assert!(json.differs(&jsonb, None));
        assert!(jsonb.differs(&SqlType::from_database("json", pg), Some(pg)));
        assert!(!jsonb.differs(&SqlType::from_database("jsonb", pg), Some(pg)));
        let arr = |item: Value| sa("postgresql.ARRAY", vec![(None, item)]);
        let s20 = arr(Value::Call {
            func: "sa.String".into(),
            args: vec![(Some("length".into()), Value::Int(20))],
        });
        let ints = arr(Value::Name("sa.Integer".into()));
        assert!(s20.differs(&ints, None));
        assert!(!s20.differs(
            &SqlType::from_database("character varying(20)[]", pg),
            Some(pg)
        ));
        assert!(s20.differs(
            &SqlType::from_database("character varying(40)[]", pg),
            Some(pg)
        ));
        assert!(!ints.differs(&SqlType::from_database("integer[]", pg), Some(pg)));
        let auto = sa(
            "sqlmodel.sql.sqltypes.AutoString",
            vec![(Some("length"), Value::Int(50))],
        );
        assert_eq!(auto.kind, Kind::String(Some(50)));
    }
}
