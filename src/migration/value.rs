//! Literal values of call arguments, as far as they can be read statically.

/// A Python expression read as a literal where possible.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
    /// A name or dotted name: `sa.Integer`, `TABLE_NAME`.
    Name(String),
    /// A call: `sa.Column("id", sa.Integer(), primary_key=True)`.
    Call {
        func: String,
        args: Vec<(Option<String>, Value)>,
    },
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Anything else, as its source text.
    Other(String),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}
