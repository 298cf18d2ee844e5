//! Table keys as people read them (for messages): UTF-8 text, a decoded slice key, or hex.

use crate::{ordered_code, slice};

/// A human-readable form of a table key: the UTF-8 text, a decoded slice key
/// (`name[0,2:-]`), or hex.
pub fn printable_key(key: &[u8]) -> String {
    if key.first() == Some(&0) {
        if let Some((name, ext)) = ordered_code::decode_slice_key(key) {
            return format!(
                "{}[{}]",
                String::from_utf8_lossy(&name),
                slice::display(&ext)
            );
        }
    }
    match std::str::from_utf8(key) {
        Ok(s) if !s.contains('\0') => s.to_string(),
        _ => format!(
            "0x{}",
            key.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    }
}
