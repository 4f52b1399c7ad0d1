//! `config/migverify.schema.json`, the configuration's JSON schema for TOML editors,
//! is generated from the config structs (schemars). This test fails when the
//! committed file is stale; `MIGVERIFY_UPDATE_SCHEMA=1 cargo test --test config_schema`
//! rewrites it. The schema must also accept every config file we ship and reject what
//! the loader rejects.

use std::path::Path;

use migverify::config::json_schema;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&json_schema::render()).unwrap();
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

/// A TOML file as the JSON value an editor validates.
fn toml_value(text: &str) -> Value {
    let v: toml::Value = toml::from_str(text).expect("valid TOML");
    serde_json::to_value(v).unwrap()
}

fn errors(validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn committed_schema_is_up_to_date() {
    let path = root().join(json_schema::PATH);
    let want = json_schema::render();
    if std::env::var_os("MIGVERIFY_UPDATE_SCHEMA").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale: run `MIGVERIFY_UPDATE_SCHEMA=1 cargo test --test config_schema`",
        json_schema::PATH
    );
}

#[test]
fn shipped_configs_validate() {
    let v = validator();
    for rel in [
        "migverify.toml.example",
        "examples/shop/migverify.toml",
        "config/recommended.toml",
        "config/strict.toml",
    ] {
        let text = std::fs::read_to_string(root().join(rel)).unwrap();
        let errs = errors(&v, &toml_value(&text));
        assert!(errs.is_empty(), "{rel}: {errs:?}");
    }
}

#[test]
fn schema_rejects_what_the_loader_rejects() {
    let v = validator();
    for (text, why) in [
        ("extnds = \"strict\"\n", "unknown top-level key"),
        ("[rules]\nselct = [\"ALL\"]\n", "unknown key in [rules]"),
        (
            "[migrations]\nversion_locations = \"a\"\n",
            "a string, not a list",
        ),
        ("[rules.severity]\nMV003 = \"loud\"\n", "not a level"),
        ("extends = \"lenient\"\n", "not a preset"),
    ] {
        assert!(
            !errors(&v, &toml_value(text)).is_empty(),
            "accepted {why}: {text}"
        );
        let loaded = migverify::config::ConfigFile::parse(None, "t.toml".into(), text.into())
            .and_then(|f| migverify::config::Config::load(Some(f)))
            .and_then(|c| {
                c.settings(
                    &migverify::cli::RuleSelection::default(),
                    &migverify::rules::Registry::builtin(),
                )
                .map(|_| c)
            })
            .and_then(|c| c.migrations().map(|_| ()));
        assert!(loaded.is_err(), "the loader accepts {why}: {text}");
    }
}

#[test]
fn schema_documents_every_key() {
    let schema: Value = serde_json::from_str(&json_schema::render()).unwrap();
    for (table, keys) in migverify::config::schema::KEYS {
        let props = if table.is_empty() {
            &schema["properties"]
        } else {
            // `migrations` → its definition, through the top-level property's `$ref`
            // (in an `allOf` beside its description).
            let prop = &schema["properties"][table];
            let reference = prop["$ref"]
                .as_str()
                .or_else(|| {
                    prop["allOf"]
                        .as_array()
                        .and_then(|a| a.iter().find_map(|x| x["$ref"].as_str()))
                })
                .unwrap_or_else(|| panic!("no $ref for [{table}]: {prop}"));
            let name = reference.rsplit('/').next().unwrap();
            &schema["definitions"][name]["properties"]
        };
        for key in *keys {
            let p = &props[*key];
            assert!(!p.is_null(), "the schema lacks `{key}` in [{table}]");
            if !table.is_empty() || !["migrations", "database", "models", "rules"].contains(key) {
                assert!(
                    p["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "`{key}` in [{table}] has no description (a `///` doc on its field)"
                );
            }
        }
    }
}
