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
            "things: title?:Text tenant_id?:Unknown id:Integer created_at:DateTime(Some(true))",
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
        return naming.table_for(cls)
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

#[test]
fn declared_attr_table_names_are_read() {
    let m = models(&[(
        "m.py",
        r#"
import re
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, has_inherited_table, mapped_column

def to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()

class Base(DeclarativeBase):
    @declared_attr.directive
    def __tablename__(cls) -> str:
        if has_inherited_table(cls):
            return None
        return to_snake(cls.__name__)

class UserAccount(Base):
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))

class AdminAccount(UserAccount):
    level: Mapped[int | None]

class Lowered:
    @declared_attr
    def __tablename__(cls):
        return f"{cls.__name__.lower()}s"

class Invoice(Lowered, Base):
    id: Mapped[int] = mapped_column(primary_key=True)
"#,
    )]);
    assert_eq!(
        describe(&m),
        vec![
            "invoices: id:Integer",
            "user_account: id:Integer kind:String(Some(20)) level?:Integer",
        ]
    );
    assert!(m.schema.opaque.is_empty());
}

#[test]
fn flask_sqlalchemy_style() {
    let m = models(&[(
        "app/models.py",
        r#"
from app import db

class UserAccount(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(120), nullable=False)
    posts = db.relationship("BlogPost", backref="author")

class Admin(UserAccount):
    level = db.Column(db.Integer)

class HTTPLog(UserAccount):
    id = db.Column(db.Integer, db.ForeignKey("user_account.id"), primary_key=True)
    path = db.Column(db.Text)

class BlogPost(db.Model):
    __tablename__ = "posts"
    id = db.Column(db.BigInteger, primary_key=True)
    author_id = db.Column(db.ForeignKey("user_account.id"), nullable=False)

class Audit(db.Model):
    __bind_key__ = "audit"
    id = db.Column(db.Integer, primary_key=True)

class Stamped(db.Model):
    __abstract__ = True
    created = db.Column(db.DateTime)

class Comment(Stamped):
    id = db.Column(db.Integer, primary_key=True)
    post_id = db.Column(db.ForeignKey("posts.id"))

tags = db.Table(
    "post_tags",
    db.Column("post_id", db.ForeignKey("posts.id"), primary_key=True),
    db.Column("tag", db.String(30), primary_key=True),
)
other = db.Table("other_bind", db.Column("id", db.Integer), bind_key="audit")
"#,
    )]);
    assert_eq!(
        describe(&m),
        vec![
            "comment: id:Integer post_id?:BigInteger created?:DateTime(Some(false))",
            "http_log: id:Integer path?:Text",
            "post_tags: post_id:BigInteger tag:String(Some(30))",
            "posts: id:BigInteger author_id:Integer",
            "user_account: id:Integer email:String(Some(120)) level?:Integer",
        ]
    );
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
}

#[test]
fn sqlmodel_style() {
    let m = models(&[(
        "app/models.py",
        r#"
from decimal import Decimal
from typing import Optional
from sqlmodel import Field, Relationship, SQLModel, Column, JSON

class TeamBase(SQLModel):
    name: str = Field(index=True, max_length=50)
    headquarters: str

class Team(TeamBase, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    heroes: list["Hero"] = Relationship(back_populates="team")

class Hero(SQLModel, table=True):
    __tablename__ = "heroes"
    id: int | None = Field(default=None, primary_key=True)
    secret_name: str
    age: int | None = Field(default=None, index=True)
    price: Decimal = Field(max_digits=10, decimal_places=2)
    extra: dict = Field(sa_column=Column(JSON))
    team_id: int | None = Field(default=None, foreign_key="team.id")
    team: Team | None = Relationship(back_populates="heroes")

class HeroPublic(TeamBase):
    id: int
"#,
    )]);
    assert_eq!(
        describe(&m),
        vec![
            "heroes: id:Integer secret_name:String(None) age?:Integer price:Numeric(Some((10, Some(2)))) extra?:Json team_id?:Integer",
            "team: id:Integer name:String(Some(50)) headquarters:String(None)",
        ]
    );
}

#[test]
fn inferred_types() {
    let m = models(&[
        (
            "app/types.py",
            r#"
from typing import Annotated
from sqlalchemy import String
from sqlalchemy.orm import mapped_column
str50 = Annotated[str, mapped_column(String(50))]
intpk = Annotated[int, mapped_column(primary_key=True)]
required_note = Annotated[str, mapped_column(nullable=False)]
"#,
        ),
        (
            "app/models.py",
            r#"
import datetime
from typing import Optional
from sqlalchemy import BigInteger, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from app.types import str50, intpk, required_note

class Base(DeclarativeBase):
    type_annotation_map = {
        int: BigInteger,
        datetime.datetime: DateTime(timezone=True),
    }

class AuditMixin:
    @declared_attr
    def created_by_id(cls) -> Mapped[Optional[int]]:
        return mapped_column(ForeignKey("account.id"))

    created: Mapped[datetime.datetime]

class Account(Base):
    __tablename__ = "account"
    id: Mapped[intpk]
    name: Mapped[str50]
    note: Mapped[Optional[required_note]]

class Order(AuditMixin, Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    code: Mapped[str] = mapped_column(String(10))
"#,
        ),
    ]);
    assert_eq!(
        describe(&m),
        vec![
            "account: id:BigInteger name:String(Some(50)) note:String(None)",
            "orders: id:BigInteger account_id:BigInteger code:String(Some(10)) created_by_id?:BigInteger created:DateTime(Some(true))",
        ]
    );
}

#[test]
fn unknown_bases_are_named_once() {
    let m = models(&[(
        "m.py",
        r#"
from sqlalchemy.orm import Mapped, mapped_column
from app.db import Base
from app.mixins import TimestampMixin

class User(TimestampMixin, Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)

class Post(TimestampMixin, Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)

class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
"#,
    )]);
    assert_eq!(
        m.warnings,
        vec![
            "models: `TimestampMixin` is not in [models] paths: its columns are unknown (add its file to [models] paths)",
            "models: `Base` is not in [models] paths: its columns are unknown (add its file to [models] paths)",
        ]
    );
    let tables: Vec<Option<&str>> = m.schema.opaque.iter().map(|o| o.table.as_deref()).collect();
    // `Tag(Base)` alone: `Base` is taken for the declarative base.
    assert_eq!(
        tables,
        vec![Some("users"), Some("users"), Some("posts"), Some("posts")]
    );
}

#[test]
fn suppressions_cover_the_line_and_the_class() {
    let m = models(&[(
        "m.py",
        "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\
         class Base(DeclarativeBase):\n    pass\n\
         class User(Base):  # migverify: ignore[MV203]\n    __tablename__ = 'users'\n    id: Mapped[int] = mapped_column(primary_key=True)\n\
         class Post(Base):\n    __tablename__ = 'posts'\n    id: Mapped[int] = mapped_column(primary_key=True)  # migverify: ignore[model-db-drift]\n    title: Mapped[str]\n",
    )]);
    let s = &m.suppressions[&PathBuf::from("m.py")];
    assert_eq!(s.rules_at(Some(6)), vec![&["MV203".to_string()][..]]);
    assert_eq!(
        s.rules_at(Some(9)),
        vec![&["model-db-drift".to_string()][..]]
    );
    assert!(s.rules_at(Some(10)).is_empty());
}

#[test]
fn long_and_cyclic_hierarchies_finish() {
    // A chain of 300 mapped classes, and mapped classes that inherit from each other.
    let mut src = String::from(
        "from sqlalchemy.orm import DeclarativeBase\nclass Base(DeclarativeBase):\n    pass\nclass C0(Base):\n    __tablename__ = 't'\n",
    );
    for i in 1..300 {
        src.push_str(&format!("class C{i}(C{}):\n    pass\n", i - 1));
    }
    for i in 0..40 {
        src.push_str(&format!(
            "class X{i}(X{}, Y{i}, Base):\n    pass\nclass Y{i}(X{i}, Base):\n    pass\n",
            (i + 1) % 40
        ));
    }
    let start = std::time::Instant::now();
    let m = models(&[("m.py", &src)]);
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    assert!(m.schema.tables.iter().any(|t| t.name.name == "t"));
}

#[test]
fn type_annotation_map_on_a_registry() {
    let m = models(&[(
        "m.py",
        r#"
from sqlalchemy import BigInteger, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry

reg = registry(type_annotation_map={int: BigInteger, str: String(40)})

class Base(DeclarativeBase):
    registry = reg

class Mid(Base):
    __abstract__ = True

class User(Mid):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
"#,
    )]);
    assert_eq!(
        describe(&m),
        vec!["users: id:BigInteger name:String(Some(40))"]
    );
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
class Computed:
    @declared_attr
    def owner_id(cls):
        col = mapped_column(ForeignKey("users.id"))
        return col
class A2(Computed, Base):
    __tablename__ = "a2"
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
    for t in ["a2", "b", "c"] {
        assert!(objects_of(&m, t).contains(&"partial".to_string()), "{t}");
    }
    // `return mapped_column(...)` as a `@declared_attr`'s one statement is read.
    assert_eq!(
        objects_of(&m, "a"),
        vec!["fk [\"owner_id\"] -> users[\"id\"] -"]
    );
    assert!(objects_of(&m, "d").is_empty());
    // A computed `__table_args__` leaves the table comment unknown.
    let b = m.schema.tables.iter().find(|t| t.name.name == "b").unwrap();
    assert_eq!(b.objects.comment, None);
}

#[test]
fn sqlmodel_field_objects_are_read() {
    let m = models(&[(
        "models.py",
        r#"from sqlmodel import Field, SQLModel
class Team(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
class Hero(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    team_id: int | None = Field(default=None, foreign_key="team.id", ondelete="CASCADE")
    tag: str = Field(sa_column_kwargs={"server_default": "x"})
"#,
    )]);
    assert_eq!(objects_of(&m, "team"), vec!["ixu ix_team_name [\"name\"]"]);
    let hero = objects_of(&m, "hero");
    assert!(
        hero.contains(&"fk [\"team_id\"] -> team[\"id\"] CASCADE".to_string()),
        "{hero:?}"
    );
    assert!(hero.contains(&"partial".to_string()), "{hero:?}");
}
