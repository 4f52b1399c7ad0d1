//! Small text helpers shared by the emitters and the error messages.

/// `s` cut to at most `max` characters (`max` ≥ 1), ending in `…` when cut: user
/// input echoed in a message stays readable however long it is.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{}…", cut.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn cuts_long_text_only() {
        assert_eq!(truncate("MV003", 60), "MV003");
        assert_eq!(truncate(&"A".repeat(1 << 20), 5), "AAAA…");
        assert_eq!(truncate("ééééé", 4), "ééé…");
    }
}
