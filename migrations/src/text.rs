//! The one Unicode rule for stored and matched text, shared by the code that writes rows and
//! the migration that brought existing rows along:
//! - text is stored in NFC, so `é` typed as one code point or as `e` + a combining accent is
//!   the same text (and has the same length);
//! - matching (search, tags, emails) compares [`fold`]ed text: full Unicode case folding of the
//!   canonical decomposition, recomposed, so `Straße` matches `STRASSE` and `Äpfel` matches
//!   `äpfel` the same way on SQLite and PostgreSQL, whose own case-insensitive matching
//!   differ.

use caseless::Caseless as _;
use unicode_normalization::UnicodeNormalization as _;

/// `text` in Normalization Form C.
pub fn nfc(text: &str) -> String {
    text.nfc().collect()
}

/// `text` case-folded for matching (canonical caseless form, in NFC).
pub fn fold(text: &str) -> String {
    text.nfd().default_case_fold().nfc().collect()
}

/// True when `text` has nothing visible: only white space and invisible format characters
/// (zero-width spaces and joiners, the byte order mark, direction marks, variation selectors).
pub fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_whitespace() || is_default_ignorable(c))
}

/// Unicode's `Default_Ignorable_Code_Point`: characters that render as nothing.
pub fn is_default_ignorable(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composed_and_decomposed_text_is_one_text() {
        assert_eq!(nfc("e\u{301}"), "\u{e9}");
        assert_eq!(fold("E\u{301}"), fold("\u{e9}"));
    }

    #[test]
    fn folding_follows_full_unicode_case_rules() {
        assert_eq!(fold("Straße"), fold("STRASSE"));
        assert_eq!(fold("Äpfel"), "äpfel");
        assert_eq!(fold("ΣΊΣΥΦΟΣ"), fold("σίσυφος"));
        assert_eq!(fold("İ"), "i\u{307}");
    }

    #[test]
    fn invisible_text_is_blank() {
        assert!(is_blank("\u{200B}\u{FEFF} \u{200D}"));
        assert!(!is_blank("\u{200B}a"));
        assert!(!is_blank("❤\u{FE0F}"));
    }
}
