//! The built-in presets: TOML files in the top-level `config/` directory, embedded
//! at build time and parsed by the same code as a user's file.

/// `(name, TOML text)` of every preset.
pub const PRESETS: &[(&str, &str)] = &[
    ("recommended", include_str!("../../config/recommended.toml")),
    ("strict", include_str!("../../config/strict.toml")),
];

/// The preset a config extends when it says nothing.
pub const DEFAULT: &str = "recommended";

/// The TOML text of a preset.
pub fn get(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Every preset name, for error help.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _)| *n).collect()
}
