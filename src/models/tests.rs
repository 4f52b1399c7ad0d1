use super::*;
use crate::schema::Kind;

fn models(files: &[(&str, &str)]) -> Models {
    let read: Vec<ModelFile> = files
        .iter()
        .map(|(p, src)| read_source(PathBuf::from(p), src.as_bytes().to_vec()))
        .collect();
    build(&read)
}

/// `table: col(nullable, kind) ...` lines, sorted by table.
fn describe(m: &Models) -> Vec<String> {
    let mut out: Vec<String> = m
        .schema
        .tables
        .iter()
        .map(|t| {
            let cols: Vec<String> = t
                .columns
                .iter()
                .map(|c| {
                    let n = match c.nullable {
                        Some(true) => "?",
                        Some(false) => "",
                        None => "~",
                    };
                    format!("{}{n}:{:?}", c.name, c.type_.kind)
                })
                .collect();
            format!("{}: {}", t.name, cols.join(" "))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn declarative_2_0_with_mapped_annotations() {
    let m = models(&[(
        "app/models.py",
        r#"
from typing import Optional
import datetime
from sqlalchemy import String, ForeignKey, Integer
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

class Base(DeclarativeBase):
    pass

class User(Base):
    __tablename__ = "users"
    __table_args__ = {"schema": "auth"}
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    nickname: Mapped[Optional[str]] = mapped_column(String(30))
    bio: Mapped[str | None]
    age: Mapped[int] = mapped_column(nullable=True)
    created: Mapped[datetime.datetime]
    email_address: Mapped[str] = mapped_column("email", String(120))
    addresses: Mapped[list["Address"]] = relationship(back_populates="user")

class Address(Base):
    __tablename__ = "addresses"
    id = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth.users.id"))
    user: Mapped["User"] = relationship(back_populates="addresses")
"#,
    )]);
    assert_eq!(
        describe(&m),
        vec![
            "addresses: id:Integer user_id:Integer",
            "auth.users: id:Integer name:String(Some(50)) nickname?:String(Some(30)) bio?:String(None) \
             age?:Integer created:DateTime(Some(false)) email:String(Some(120))",
        ]
    );
    let users = &m.schema.tables[0];
    assert_eq!(users.class.as_deref(), Some("User"));
    // Spans: the table at the class name, the column at its statement.
    assert_eq!(users.origin.as_ref().unwrap().span.unwrap().start_line, 10);
    assert_eq!(
        users.columns[1]
            .origin
            .as_ref()
            .unwrap()
            .span
            .unwrap()
            .start_line,
        14
    );
}

#[test]
fn classic_declarative_base_mixins_abstract_and_tables() {
    let m = models(&[
        (
            "app/base.py",
            r#"
import sqlalchemy as sa
from sqlalchemy.orm import declarative_base, declared_attr

Base = declarative_base()

class TimestampMixin:
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False)

class TenantMixin:
    @declared_attr
    def tenant_id(cls):
        return sa.Column(sa.ForeignKey("tenants.id"))

class Model(Base, TimestampMixin):
    __abstract__ = True
    id = sa.Column(sa.Integer, primary_key=True)
"#,
        ),
        (
            "app/things.py",
            r#"
import sqlalchemy as sa
from app.base import Base, Model, TenantMixin

class Thing(TenantMixin, Model):
    __tablename__ = "things"
    label = sa.Column("title", sa.Text)

tags = sa.Table(
    "tags", Base.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(20), nullable=False),
    schema="meta",
)

class NotAModel:
    __tablename__ = "nope"
"#,
        ),
    ]);
    assert_eq!(
        describe(&m),
        vec![
            "meta.tags: id:Integer name:String(Some(20))",
            "things: title?:Text tenant_id~:Unknown id:Integer created_at:DateTime(Some(true))",
        ]
    );
}

#[test]
fn single_table_and_joined_inheritance() {
    let m = models(&[(
        "m.py",
        r#"
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy import ForeignKey

class Base(DeclarativeBase):
    pass

class Employee(Base):
    __tablename__ = "employee"
    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str]

class Manager(Employee):
    manager_data: Mapped[str | None]

class Engineer(Employee):
    __tablename__ = "engineer"
    id: Mapped[int] = mapped_column(ForeignKey("employee.id"), primary_key=True)
    language: Mapped[str]
"#,
    )]);
    assert_eq!(
        describe(&m),
        vec![
            "employee: id:Integer type:String(None) manager_data?:String(None)",
            "engineer: id:Integer language:String(None)",
        ]
    );
}

#[test]
fn computed_names_are_opaque_and_syntax_errors_are_warned() {
    let m = models(&[(
        "m.py",
        r#"
from sqlalchemy.orm import DeclarativeBase, declared_attr
class Base(DeclarativeBase):
    pass
class Auto(Base):
    @declared_attr.directive
    def __tablename__(cls):
        return cls.__name__.lower()
class Broken(Base:
    __tablename__ = "broken"
"#,
    )]);
    assert_eq!(m.schema.opaque.len(), 1);
    assert!(m.schema.opaque[0].what.contains("Auto"));
    assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
    assert!(
        m.warnings[0].starts_with("models: m.py:9:"),
        "{}",
        m.warnings[0]
    );
}

#[test]
fn mapped_annotations() {
    let cases = [
        ("Mapped[int]", Some((Kind::Integer, false, false))),
        ("Mapped[Optional[int]]", Some((Kind::Integer, true, false))),
        (
            "so.Mapped[typing.Optional[str]]",
            Some((Kind::String(None), true, false)),
        ),
        (
            "Mapped[Union[str, None]]",
            Some((Kind::String(None), true, false)),
        ),
        ("Mapped[None | bool]", Some((Kind::Boolean, true, false))),
        ("Mapped[List['Child']]", Some((Kind::Unknown, false, true))),
        ("Mapped[\"Parent\"]", Some((Kind::Unknown, false, true))),
        ("Optional[int]", None),
    ];
    for (text, want) in cases {
        let got = super::read::parse_mapped_for_test(text);
        assert_eq!(got, want, "{text}");
    }
}

/// `kind name (columns)` of each index, unique constraint and foreign key of `table`.
fn objects_of(m: &Models, table: &str) -> Vec<String> {
    let t = m
        .schema
        .tables
        .iter()
        .find(|t| t.name.name == table)
        .unwrap();
    let o = &t.objects;
    let mut out: Vec<String> = Vec::new();
    for i in &o.indexes {
        out.push(format!(
            "ix{} {} {:?}",
            if i.unique { "u" } else { "" },
            i.name.as_deref().unwrap_or("-"),
            i.columns
        ));
    }
    for u in &o.uniques {
        out.push(format!(
            "uq {} {:?}",
            u.name.as_deref().unwrap_or("-"),
            u.columns
        ));
    }
    for f in &o.foreign_keys {
        out.push(format!(
            "fk {:?} -> {}{:?} {}",
            f.columns,
            f.referred,
            f.referred_columns,
            f.ondelete.as_deref().unwrap_or("-")
        ));
    }
    if let Some(Some(c)) = &o.comment {
        out.push(format!("comment {c}"));
    }
    for c in &o.columns {
        if let Some(Some(d)) = &c.server_default {
            out.push(format!("default {} {d}", c.column));
        }
        if let Some(Some(d)) = &c.comment {
            out.push(format!("comment {} {d}", c.column));
        }
    }
    if o.partial {
        out.push("partial".into());
    }
    out
}

#[test]
fn objects_with_a_naming_convention() {
    let m = models(&[(
        "models.py",
        r#"from sqlalchemy import ForeignKey, Index, MetaData, String, UniqueConstraint, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=convention)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("first", "last"), {"comment": "people"})
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(120), unique=True, index=True)
    first: Mapped[str] = mapped_column(server_default="x", comment="given name")
    last: Mapped[str] = mapped_column(server_default=text("'y'"))
    seen: Mapped[str] = mapped_column(server_default=func.now())


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))


Index("ix_posts_title_lower", func.lower(Post.title))
Index("ix_posts_user_title", Post.user_id, Post.title, unique=True)
"#,
    )]);
    assert_eq!(
        objects_of(&m, "users"),
        vec![
            "ixu ix_users_email [\"email\"]",
            "uq uq_users_first_last [\"first\", \"last\"]",
            "comment people",
            "default first 'x'",
            "comment first given name",
            "default last 'y'",
            "default seen now()",
        ]
    );
    assert_eq!(
        objects_of(&m, "posts"),
        vec![
            "ix ix_posts_title_lower []",
            "ixu ix_posts_user_title [\"user_id\", \"title\"]",
            "fk [\"user_id\"] -> users[\"id\"] CASCADE",
        ]
    );
    // The expression index is kept, but its columns are not compared.
    assert!(m.schema.tables[1].objects.indexes[0].expression);
}

#[test]
fn objects_not_read_make_the_table_partial() {
    let m = models(&[(
        "models.py",
        r#"from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
class Base(DeclarativeBase):
    pass
class Owned:
    @declared_attr
    def owner_id(cls):
        return mapped_column(ForeignKey("users.id"))
class A(Owned, Base):
    __tablename__ = "a"
    id: Mapped[int] = mapped_column(primary_key=True)
class B(Base):
    __tablename__ = "b"
    __table_args__ = make_args()
    id: Mapped[intpk]
class C(Base):
    __tablename__ = "c"
    id: Mapped[int] = mapped_column(primary_key=True, index=flag)
class D(Base):
    __tablename__ = "d"
    id: Mapped[int] = mapped_column(primary_key=True)
"#,
    )]);
    for t in ["a", "b", "c"] {
        assert!(objects_of(&m, t).contains(&"partial".to_string()), "{t}");
    }
    assert!(objects_of(&m, "d").is_empty());
    // A computed `__table_args__` leaves the table comment unknown.
    let b = m.schema.tables.iter().find(|t| t.name.name == "b").unwrap();
    assert_eq!(b.objects.comment, None);
}
