//! The JSON schema of the configuration, generated from [`super::schema`] with
//! schemars. Committed as `config/migverify.schema.json` for TOML editors (Taplo,
//! Even Better TOML); `tests/config_schema.rs` fails when the file is stale and
//! `MIGVERIFY_UPDATE_SCHEMA=1 cargo test --test config_schema` rewrites it.

use schemars::generate::SchemaSettings;
use serde_json::Value;

use super::schema::Options;

/// Where the committed schema lives, relative to the repository root.
pub const PATH: &str = "config/migverify.schema.json";

/// The schema as pretty-printed JSON (draft 7, which Taplo reads), with a final newline.
pub fn render() -> String {
    let schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Options>();
    let mut value = serde_json::to_value(&schema).expect("schema is JSON");
    strip_null(&mut value);
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "$id".into(),
            "https://raw.githubusercontent.com/migverify/migverify/main/config/migverify.schema.json"
                .into(),
        );
    }
    let mut text = serde_json::to_string_pretty(&value).expect("schema is JSON");
    text.push('\n');
    text
}

/// TOML has no null (a missing key is the only `None`), so the `null` schemars adds
/// for every `Option` goes: `"type": ["string", "null"]` becomes `"type": "string"`,
/// `"anyOf": [{"$ref": ...}, {"type": "null"}]` becomes the `$ref` (in an `allOf`
/// when it has a description beside it).
fn strip_null(value: &mut Value) {
    match value {
        Value::Object(obj) => {
            if let Some(Value::Array(types)) = obj.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    obj.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(any)) = obj.get_mut("anyOf") {
                any.retain(|s| s.get("type").is_none_or(|t| t != "null"));
                if any.len() == 1 {
                    let inner = any.remove(0);
                    obj.remove("anyOf");
                    if obj.is_empty() {
                        if let Value::Object(inner) = inner {
                            obj.extend(inner);
                        }
                    } else {
                        // Draft 7 ignores a `$ref`'s siblings (the description):
                        // keep them beside an `allOf`.
                        obj.insert("allOf".into(), Value::Array(vec![inner]));
                    }
                }
            }
            for v in obj.values_mut() {
                strip_null(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}
