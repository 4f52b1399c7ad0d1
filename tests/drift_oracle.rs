//! MV203 against `alembic check`, per model style (issue 14): each package of models
//! is written the way teams write it (SQLAlchemy 2.0 typed with foreign keys to
//! BigInteger keys, `type_annotation_map`, `Annotated` aliases, mixins with
//! `declared_attr`, classic declarative with `Table` and inheritance,
//! Flask-SQLAlchemy, SQLModel, PostgreSQL types), started by the real
//! `alembic revision --autogenerate` + `alembic upgrade head`; MV203 must then be
//! silent. Then one model change at a time: MV203's findings, as `(kind, table,
//! column)`, must equal what Alembic's `compare_metadata` (what `alembic check` runs)
//! lists for tables and columns — and so must MV201's (the same models against the
//! database at head), while on the clean project no drift rule (MV201–MV204) says
//! anything. SQLite always; PostgreSQL when
//! `MIGVERIFY_TEST_POSTGRES_URL` is set. Needs `MIGVERIFY_TEST_PYTHON` (with
//! flask-sqlalchemy and sqlmodel: `scripts/python-env`).
//!
//! Indexes, constraints, foreign keys, comments and server defaults are compared in
//! their own oracle; here Alembic's diffs of those kinds are left out.

#![cfg(feature = "db")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::alembic::{self, python, sqlalchemy_url};
use common::server_db::{Server, ServerDb};

/// One model style: its files, where its metadata is, and the changes tried on it.
struct Style {
    name: &'static str,
    /// `(path under the project, source)`.
    files: &'static [(&'static str, &'static str)],
    /// The `[models] paths` globs.
    paths: &'static [&'static str],
    /// `module:expression` of the `MetaData` Alembic compares.
    metadata: &'static str,
    /// Extra imports the generated migrations need (`import sqlmodel`).
    script_imports: &'static str,
    /// `(what, file, from, to)`.
    changes: &'static [(&'static str, &'static str, &'static str, &'static str)],
    postgres_only: bool,
}

const SA20: &str = r#"import datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import BigInteger, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "account"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(String(120))
    display_name: Mapped[Optional[str]] = mapped_column(String(60))
    orders: Mapped[list["Order"]] = relationship(back_populates="account")


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("orders.id"))
    total: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    note: Mapped[Optional[str]] = mapped_column(Text)
    placed: Mapped[datetime.datetime]
    account: Mapped["Account"] = relationship(back_populates="orders")
"#;

const TYPE_MAP: &str = r#"import datetime
from typing import Optional

from sqlalchemy import BigInteger, DateTime, ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {
        int: BigInteger,
        str: String(255),
        datetime.datetime: DateTime(timezone=True),
    }


class Customer(Base):
    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    nickname: Mapped[Optional[str]]
    joined: Mapped[datetime.datetime]


class Invoice(Base):
    __tablename__ = "invoice"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    number: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int]
"#;

const ANNOTATED_TYPES: &str = r#"import datetime
from typing import Annotated

from sqlalchemy import String, func
from sqlalchemy.orm import mapped_column

intpk = Annotated[int, mapped_column(primary_key=True)]
str50 = Annotated[str, mapped_column(String(50))]
timestamp = Annotated[datetime.datetime, mapped_column(nullable=False, server_default=func.now())]
"#;

const ANNOTATED: &str = r#"from typing import Optional

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.types import intpk, str50, timestamp


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "author"

    id: Mapped[intpk]
    name: Mapped[str50]
    bio: Mapped[Optional[str]] = mapped_column(Text)
    created: Mapped[timestamp]


class Book(Base):
    __tablename__ = "book"

    id: Mapped[intpk]
    title: Mapped[str50]
    subtitle: Mapped[Optional[str50]]
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))
"#;

const MIXINS: &str = r#"import datetime
import re
from typing import Optional

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column


def snake_case(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Base(DeclarativeBase):
    @declared_attr.directive
    def __tablename__(cls) -> str:
        return snake_case(cls.__name__)


class TimestampMixin:
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[Optional[datetime.datetime]] = mapped_column(DateTime(timezone=True))


class TenantMixin:
    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("tenant.id"))


class Tenant(Base):
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))


class ProjectItem(TenantMixin, TimestampMixin, Base):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))


class UserProfile(TenantMixin, Base):
    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(40))
"#;

const CLASSIC: &str = r#"import sqlalchemy as sa
from sqlalchemy.orm import declarative_base

Base = declarative_base()

tags = sa.Table(
    "tags",
    Base.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("label", sa.String(30), nullable=False),
)


class Employee(Base):
    __tablename__ = "employee"

    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(100), nullable=False)
    kind = sa.Column(sa.String(20))
    __mapper_args__ = {"polymorphic_on": kind, "polymorphic_identity": "employee"}


class Manager(Employee):
    reports = sa.Column(sa.Integer)
    __mapper_args__ = {"polymorphic_identity": "manager"}


class Engineer(Employee):
    __tablename__ = "engineer"

    id = sa.Column(sa.Integer, sa.ForeignKey("employee.id"), primary_key=True)
    language = sa.Column(sa.String(40))
    __mapper_args__ = {"polymorphic_identity": "engineer"}


employee_tags = sa.Table(
    "employee_tags",
    Base.metadata,
    sa.Column("employee_id", sa.ForeignKey("employee.id"), primary_key=True),
    sa.Column("tag_id", sa.ForeignKey("tags.id"), primary_key=True),
)
"#;

const FLASK_EXT: &str = r#"from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
"#;

const FLASK: &str = r#"from app.ext import db


class UserAccount(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(120), unique=True, nullable=False)
    kind = db.Column(db.String(20))
    posts = db.relationship("BlogPost", backref="author", lazy=True)
    __mapper_args__ = {"polymorphic_on": kind, "polymorphic_identity": "user"}


class AdminUser(UserAccount):
    level = db.Column(db.Integer)
    __mapper_args__ = {"polymorphic_identity": "admin"}


class APIClient(UserAccount):
    id = db.Column(db.Integer, db.ForeignKey("user_account.id"), primary_key=True)
    token = db.Column(db.String(64), nullable=False)
    __mapper_args__ = {"polymorphic_identity": "api"}


class BlogPost(db.Model):
    id = db.Column(db.BigInteger, primary_key=True)
    title = db.Column(db.String(200), nullable=False)
    body = db.Column(db.Text)
    author_id = db.Column(db.Integer, db.ForeignKey("user_account.id"), nullable=False)


class AuditEntry(db.Model):
    __bind_key__ = "audit"
    id = db.Column(db.Integer, primary_key=True)


post_tags = db.Table(
    "post_tags",
    db.Column("post_id", db.ForeignKey("blog_post.id"), primary_key=True),
    db.Column("tag", db.String(30), primary_key=True),
)
"#;

const SQLMODEL: &str = r#"from decimal import Decimal
from typing import Optional

from sqlmodel import JSON, Column, Field, Relationship, SQLModel


class TeamBase(SQLModel):
    name: str = Field(index=True)
    headquarters: str


class Team(TeamBase, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    heroes: list["Hero"] = Relationship(back_populates="team")


class Hero(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=50)
    secret_name: str
    age: Optional[int] = Field(default=None, index=True)
    price: Decimal = Field(default=0, max_digits=10, decimal_places=2)
    extra: Optional[dict] = Field(default=None, sa_column=Column(JSON))
    team_id: Optional[int] = Field(default=None, foreign_key="team.id")
    team: Optional[Team] = Relationship(back_populates="heroes")


class HeroPublic(TeamBase):
    id: int
"#;

const POSTGRES: &str = r#"import datetime
import uuid
from typing import Any, Optional

from sqlalchemy import ARRAY, JSON, DateTime, Integer, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Event(Base):
    __tablename__ = "event"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    meta: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    labels: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    scores: Mapped[Optional[list[int]]] = mapped_column(ARRAY(Integer))
    at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    amount: Mapped[Optional[float]] = mapped_column(Numeric(12, 4))
"#;

const STYLES: &[Style] = &[
    Style {
        name: "SQLAlchemy 2.0 typed, foreign keys to BigInteger keys",
        files: &[("app/models.py", SA20)],
        paths: &["app/models.py"],
        metadata: "app.models:Base.metadata",
        script_imports: "",
        postgres_only: false,
        changes: &[
            (
                "add column",
                "app/models.py",
                "    note: Mapped[Optional[str]] = mapped_column(Text)\n",
                "    note: Mapped[Optional[str]] = mapped_column(Text)\n    coupon: Mapped[Optional[str]] = mapped_column(String(20))\n",
            ),
            (
                "drop column",
                "app/models.py",
                "    display_name: Mapped[Optional[str]] = mapped_column(String(60))\n",
                "",
            ),
            (
                "type (length)",
                "app/models.py",
                "mapped_column(String(120))",
                "mapped_column(String(200))",
            ),
            (
                "nullability",
                "app/models.py",
                "    placed: Mapped[datetime.datetime]\n",
                "    placed: Mapped[Optional[datetime.datetime]]\n",
            ),
            (
                "referenced key type (foreign keys follow)",
                "app/models.py",
                "    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)\n    email",
                "    id: Mapped[int] = mapped_column(primary_key=True)\n    email",
            ),
            (
                "add table",
                "app/models.py",
                "class Order(Base):",
                "class Coupon(Base):\n    __tablename__ = \"coupon\"\n\n    id: Mapped[int] = mapped_column(primary_key=True)\n    code: Mapped[str] = mapped_column(String(20))\n\n\nclass Order(Base):",
            ),
        ],
    },
    Style {
        name: "type_annotation_map",
        files: &[("app/models.py", TYPE_MAP)],
        paths: &["app/models.py"],
        metadata: "app.models:Base.metadata",
        script_imports: "",
        postgres_only: false,
        changes: &[
            (
                "map entry changes every column it types",
                "app/models.py",
                "str: String(255)",
                "str: String(300)",
            ),
            ("map entry for int", "app/models.py", "int: BigInteger,", ""),
            (
                "add column typed by the map",
                "app/models.py",
                "    amount: Mapped[int]\n",
                "    amount: Mapped[int]\n    memo: Mapped[Optional[str]]\n",
            ),
            (
                "nullability",
                "app/models.py",
                "    name: Mapped[str]\n",
                "    name: Mapped[Optional[str]]\n",
            ),
        ],
    },
    Style {
        name: "Annotated aliases in another file",
        files: &[
            ("app/types.py", ANNOTATED_TYPES),
            ("app/models.py", ANNOTATED),
        ],
        paths: &["app/*.py"],
        metadata: "app.models:Base.metadata",
        script_imports: "",
        postgres_only: false,
        changes: &[
            (
                "alias type changes every column using it",
                "app/types.py",
                "String(50)",
                "String(80)",
            ),
            (
                "alias nullability",
                "app/types.py",
                "mapped_column(nullable=False, server_default",
                "mapped_column(nullable=True, server_default",
            ),
            (
                "add column with an alias",
                "app/models.py",
                "    bio: Mapped[Optional[str]] = mapped_column(Text)\n",
                "    bio: Mapped[Optional[str]] = mapped_column(Text)\n    pen_name: Mapped[Optional[str50]]\n",
            ),
            (
                "drop table",
                "app/models.py",
                "class Book(Base):\n    __tablename__ = \"book\"",
                "class Book:\n    __tablename__ = \"book\"",
            ),
        ],
    },
    Style {
        name: "mixins with declared_attr, computed table names",
        files: &[("app/models.py", MIXINS)],
        paths: &["app/models.py"],
        metadata: "app.models:Base.metadata",
        script_imports: "",
        postgres_only: false,
        changes: &[
            (
                "mixin column added",
                "app/models.py",
                "    updated_at: Mapped[Optional[datetime.datetime]] = mapped_column(DateTime(timezone=True))\n",
                "    updated_at: Mapped[Optional[datetime.datetime]] = mapped_column(DateTime(timezone=True))\n    deleted_at: Mapped[Optional[datetime.datetime]] = mapped_column(DateTime(timezone=True))\n",
            ),
            (
                "declared_attr column nullability",
                "app/models.py",
                "    def tenant_id(cls) -> Mapped[int]:\n        return mapped_column(ForeignKey(\"tenant.id\"))",
                "    def tenant_id(cls) -> Mapped[Optional[int]]:\n        return mapped_column(ForeignKey(\"tenant.id\"))",
            ),
            (
                "referenced key type through the declared_attr",
                "app/models.py",
                "    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)\n    name",
                "    id: Mapped[int] = mapped_column(primary_key=True)\n    name",
            ),
            (
                "new model named by the helper",
                "app/models.py",
                "class UserProfile(TenantMixin, Base):",
                "class AuditLogEntry(Base):\n    id: Mapped[int] = mapped_column(primary_key=True)\n\n\nclass UserProfile(TenantMixin, Base):",
            ),
            (
                "renamed class renames its table",
                "app/models.py",
                "class UserProfile(TenantMixin, Base):",
                "class MemberProfile(TenantMixin, Base):",
            ),
        ],
    },
    Style {
        name: "classic declarative, Table, single and joined inheritance",
        files: &[("app/models.py", CLASSIC)],
        paths: &["app/models.py"],
        metadata: "app.models:Base.metadata",
        script_imports: "",
        postgres_only: false,
        changes: &[
            (
                "single-table subclass column",
                "app/models.py",
                "    reports = sa.Column(sa.Integer)\n",
                "    reports = sa.Column(sa.Integer)\n    budget = sa.Column(sa.Numeric(12, 2))\n",
            ),
            (
                "joined subclass column type",
                "app/models.py",
                "sa.String(40)",
                "sa.String(60)",
            ),
            (
                "Table column nullability",
                "app/models.py",
                "sa.Column(\"label\", sa.String(30), nullable=False)",
                "sa.Column(\"label\", sa.String(30), nullable=True)",
            ),
            (
                "referenced key type (untyped Table foreign keys follow)",
                "app/models.py",
                "    sa.Column(\"id\", sa.Integer, primary_key=True),\n    sa.Column(\"label\"",
                "    sa.Column(\"id\", sa.BigInteger, primary_key=True),\n    sa.Column(\"label\"",
            ),
            (
                "drop Table",
                "app/models.py",
                "employee_tags = sa.Table(",
                "employee_tags = lambda: sa.Table(",
            ),
        ],
    },
    Style {
        name: "Flask-SQLAlchemy",
        files: &[("app/ext.py", FLASK_EXT), ("app/models.py", FLASK)],
        paths: &["app/models.py"],
        metadata: "app.models:db.metadata",
        script_imports: "",
        postgres_only: false,
        changes: &[
            (
                "add column",
                "app/models.py",
                "    body = db.Column(db.Text)\n",
                "    body = db.Column(db.Text)\n    views = db.Column(db.Integer, nullable=False, default=0)\n",
            ),
            (
                "single-table subclass column",
                "app/models.py",
                "    level = db.Column(db.Integer)\n",
                "    level = db.Column(db.Integer)\n    scope = db.Column(db.String(50))\n",
            ),
            (
                "joined subclass column type",
                "app/models.py",
                "db.String(64)",
                "db.String(128)",
            ),
            (
                "new model named by Flask-SQLAlchemy",
                "app/models.py",
                "class AuditEntry(db.Model):",
                "class HTTPRequestLog(db.Model):\n    id = db.Column(db.Integer, primary_key=True)\n    path = db.Column(db.Text)\n\n\nclass AuditEntry(db.Model):",
            ),
            (
                "a model of another bind changes: not the default bind's",
                "app/models.py",
                "    __bind_key__ = \"audit\"\n    id = db.Column(db.Integer, primary_key=True)\n",
                "    __bind_key__ = \"audit\"\n    id = db.Column(db.Integer, primary_key=True)\n    what = db.Column(db.Text)\n",
            ),
            (
                "referenced key type (untyped db.Table foreign key follows)",
                "app/models.py",
                "    id = db.Column(db.BigInteger, primary_key=True)\n",
                "    id = db.Column(db.Integer, primary_key=True)\n",
            ),
            (
                "drop model",
                "app/models.py",
                "class APIClient(UserAccount):",
                "class APIClient:",
            ),
        ],
    },
    Style {
        name: "SQLModel",
        files: &[("app/models.py", SQLMODEL)],
        paths: &["app/models.py"],
        metadata: "app.models:SQLModel.metadata",
        script_imports: "import sqlmodel\n",
        postgres_only: false,
        changes: &[
            (
                "add field",
                "app/models.py",
                "    secret_name: str\n",
                "    secret_name: str\n    power: Optional[str] = None\n",
            ),
            (
                "field on a shared base",
                "app/models.py",
                "    headquarters: str\n",
                "    headquarters: str\n    motto: Optional[str] = None\n",
            ),
            (
                "max_length",
                "app/models.py",
                "Field(max_length=50)",
                "Field(max_length=80)",
            ),
            (
                "Optional",
                "app/models.py",
                "    secret_name: str\n",
                "    secret_name: Optional[str] = None\n",
            ),
            (
                "new table",
                "app/models.py",
                "class HeroPublic(TeamBase):",
                "class Mission(SQLModel, table=True):\n    id: Optional[int] = Field(default=None, primary_key=True)\n    code: str\n\n\nclass HeroPublic(TeamBase):",
            ),
            (
                "table=False drops it",
                "app/models.py",
                "class Hero(SQLModel, table=True):",
                "class Hero(SQLModel):",
            ),
        ],
    },
    Style {
        name: "PostgreSQL types",
        files: &[("app/models.py", POSTGRES)],
        paths: &["app/models.py"],
        metadata: "app.models:Base.metadata",
        script_imports: "from sqlalchemy.dialects import postgresql\n",
        postgres_only: true,
        changes: &[
            (
                "JSONB to JSON",
                "app/models.py",
                "mapped_column(JSONB)",
                "mapped_column(JSON)",
            ),
            (
                "ARRAY item type",
                "app/models.py",
                "ARRAY(Integer)",
                "ARRAY(String(10))",
            ),
            (
                "ARRAY item length",
                "app/models.py",
                "ARRAY(String(20))",
                "ARRAY(String(40))",
            ),
            (
                "time zone",
                "app/models.py",
                "DateTime(timezone=True)",
                "DateTime(timezone=False)",
            ),
            (
                "precision",
                "app/models.py",
                "Numeric(12, 4)",
                "Numeric(14, 4)",
            ),
        ],
    },
];

/// `(kind, table, column)` of each table/column difference `compare_metadata` finds.
const ALEMBIC_DIFFS: &str = r#"
import importlib, json, sys
sys.path.insert(0, ".")
from sqlalchemy import create_engine
from alembic.runtime.migration import MigrationContext
from alembic.autogenerate import compare_metadata
module, expr = sys.argv[2].split(":")
metadata = eval(expr, vars(importlib.import_module(module)))
with create_engine(sys.argv[1]).connect() as c:
    diffs = compare_metadata(MigrationContext.configure(c), metadata)
def flat(ds):
    for d in ds:
        if isinstance(d, list):
            yield from flat(d)
        else:
            yield d
out = []
for d in flat(diffs):
    op = d[0]
    if op in ("add_table", "remove_table"):
        out.append(["table", d[1].name, None])
    elif op in ("add_column", "remove_column"):
        out.append(["column", d[2], d[3].name])
    elif op == "modify_nullable":
        out.append(["nullable", d[2], d[3]])
    elif op == "modify_type":
        out.append(["type", d[2], d[3]])
print(json.dumps(out))
"#;

type Diff = (String, String, Option<String>);

struct Proj {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    python: String,
    url: String,
    _server: Option<ServerDb>,
}

impl Proj {
    fn new(style: &Style, server: Option<Server>) -> Option<Proj> {
        let python = python()?;
        let server = match server {
            None => None,
            Some(s) => Some(ServerDb::create(s, "mv_oracle")?),
        };
        let tmp = tempfile::tempdir().unwrap();
        let url = match &server {
            None => "sqlite:///app.db".to_string(),
            Some(s) => sqlalchemy_url(&s.url()),
        };
        let p = Proj {
            dir: tmp.path().to_path_buf(),
            _tmp: tmp,
            python,
            url,
            _server: server,
        };
        alembic::init(&p.python, &p.dir, &p.url);
        let (module, expr) = style.metadata.split_once(':').unwrap();
        let root = expr.split('.').next().unwrap();
        edit(&p.dir.join("alembic/env.py"), |t| {
            t.replace(
                "target_metadata = None",
                &format!("from {module} import {root}\ntarget_metadata = {expr}"),
            )
        });
        if !style.script_imports.is_empty() {
            edit(&p.dir.join("alembic/script.py.mako"), |t| {
                t.replacen(
                    "import sqlalchemy as sa\n",
                    &format!("import sqlalchemy as sa\n{}", style.script_imports),
                    1,
                )
            });
        }
        std::fs::create_dir(p.dir.join("app")).unwrap();
        std::fs::write(p.dir.join("app/__init__.py"), "").unwrap();
        for (path, src) in style.files {
            std::fs::write(p.dir.join(path), src).unwrap();
        }
        let paths: Vec<String> = style.paths.iter().map(|p| format!("{p:?}")).collect();
        std::fs::write(
            p.dir.join("migverify.toml"),
            format!("[models]\npaths = [{}]\n", paths.join(", ")),
        )
        .unwrap();
        Some(p)
    }

    fn alembic_diffs(&self, style: &Style) -> BTreeSet<Diff> {
        let out = std::process::Command::new(&self.python)
            .args(["-c", ALEMBIC_DIFFS, &self.url, style.metadata])
            .current_dir(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            style.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Vec<Diff> = serde_json::from_slice(&out.stdout).unwrap();
        v.into_iter().collect()
    }

    /// MV203's findings as `(kind, table, column)`, and its messages.
    fn mv203(&self) -> (BTreeSet<Diff>, Vec<String>) {
        self.findings("MV203")
    }

    /// The findings of the rules `select` picks (the database is `alembic.ini`'s).
    fn findings(&self, select: &str) -> (BTreeSet<Diff>, Vec<String>) {
        let out = alembic::migverify(
            &self.dir,
            &[
                "check",
                "--format",
                "json",
                "--no-cache",
                "--select",
                select,
            ],
        );
        let code = out.status.code().unwrap();
        assert!(
            code == 0 || code == 1,
            "exit {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let messages: Vec<String> = report["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["message"].as_str().unwrap().to_string())
            .collect();
        (messages.iter().map(|m| classify(m)).collect(), messages)
    }
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(text)).unwrap();
}

/// An MV203 message as `(kind, table, column)`.
fn classify(m: &str) -> Diff {
    let quoted = m.split('`').nth(1).unwrap_or("").to_string();
    if m.starts_with("table ") {
        return ("table".into(), quoted, None);
    }
    let (t, c) = quoted.rsplit_once('.').unwrap_or((&quoted, ""));
    let kind = if m.contains("` is in ") {
        "column"
    } else if m.contains("` is nullable in") || m.contains("` is NOT NULL in") {
        "nullable"
    } else {
        "type"
    };
    (kind.into(), t.to_string(), Some(c.to_string()))
}

/// Runs every style on `server`; returns `(style, agreeing, total)`.
fn run(server: Option<Server>) -> Vec<(&'static str, usize, usize)> {
    let mut summary = Vec::new();
    let mut failures = Vec::new();
    for style in STYLES {
        if style.postgres_only && server != Some(Server::Postgres) {
            continue;
        }
        // `MIGVERIFY_ORACLE_STYLE=Flask` runs only the styles whose name contains it.
        if let Ok(only) = std::env::var("MIGVERIFY_ORACLE_STYLE")
            && !style.name.contains(only.as_str())
        {
            continue;
        }
        let Some(p) = Proj::new(style, server) else {
            return summary;
        };
        alembic::alembic_ok(
            &p.python,
            &p.dir,
            &["revision", "--autogenerate", "-m", "init"],
        );
        alembic::alembic_ok(&p.python, &p.dir, &["upgrade", "head"]);
        let check = alembic::alembic(&p.python, &p.dir, &["check"]);
        assert!(
            check.status.success(),
            "{}: alembic check fails right after autogenerate: {}",
            style.name,
            String::from_utf8_lossy(&check.stderr)
        );
        // No drift rule says anything on a clean project: MV201 and MV202 read the
        // database's own types.
        let (_, messages) = p.findings("MV2");
        assert!(
            messages.is_empty(),
            "{server:?} {}: alembic check passes but migverify says {messages:#?}",
            style.name
        );
        let mut agree = 0;
        for (what, file, from, to) in style.changes {
            let path = p.dir.join(file);
            let original = std::fs::read_to_string(&path).unwrap();
            assert!(original.contains(from), "{}: {what}: `{from}`", style.name);
            std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
            let theirs = p.alembic_diffs(style);
            let (ours, messages) = p.mv203();
            // MV201 compares the same models with the database at head: the same list.
            let (db_side, db_messages) = p.findings("MV201");
            std::fs::write(&path, &original).unwrap();
            if db_side != theirs {
                failures.push(format!(
                    "{server:?} {}: {what}: alembic lists {theirs:?}, MV201 {db_side:?}: {db_messages:#?}",
                    style.name
                ));
            }
            println!(
                "{:?} {}: {what}: alembic {theirs:?}; MV203 {ours:?}",
                server, style.name
            );
            if theirs == ours {
                agree += 1;
            } else {
                failures.push(format!(
                    "{server:?} {}: {what}: alembic lists {theirs:?}, MV203 {ours:?}: {messages:#?}",
                    style.name
                ));
            }
        }
        summary.push((style.name, agree, style.changes.len()));
    }
    for (name, agree, total) in &summary {
        println!("{server:?} {name}: {agree}/{total}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    summary
}

#[test]
fn mv203_agrees_with_alembic_per_style_sqlite() {
    run(None);
}

#[test]
fn mv203_agrees_with_alembic_per_style_postgres() {
    if std::env::var(Server::Postgres.var()).is_err() {
        println!("skipping: {} is not set", Server::Postgres.var());
        return;
    }
    run(Some(Server::Postgres));
}
