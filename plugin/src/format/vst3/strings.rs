//! Text in the fixed-size string fields of VST3 structs (C strings and UTF-16).

use std::ffi::c_char;

/// Copies `text` into a C string field, NUL-terminated, cut at a character
/// boundary if it does not fit.
pub(super) fn copy_c(dest: &mut [c_char], text: &str) {
    let Some(max) = dest.len().checked_sub(1) else { return };
    let mut len = text.len().min(max);
    while !text.is_char_boundary(len) {
        len -= 1;
    }
    for (d, &byte) in dest.iter_mut().zip(&text.as_bytes()[..len]) {
        *d = byte as c_char;
    }
    dest[len] = 0;
}

/// Copies `text` into a UTF-16 field (`String128` and the like),
/// NUL-terminated, cut if it does not fit (never inside a surrogate pair).
pub(super) fn copy_utf16(dest: &mut [u16], text: &str) {
    let Some(max) = dest.len().checked_sub(1) else { return };
    let mut len = 0;
    for unit in text.encode_utf16().take(max) {
        dest[len] = unit;
        len += 1;
    }
    if len == max && len > 0 && (0xD800..0xDC00).contains(&dest[len - 1]) {
        len -= 1;
    }
    dest[len] = 0;
}

/// Longest host string read by [`read_utf16`], in UTF-16 units: far past
/// any value text, and a bound should a host forget the terminator.
const MAX_HOST_TEXT: usize = 1024;

/// Reads a NUL-terminated UTF-16 string from the host.
///
/// # Safety
/// `text` is null or points at UTF-16 units up to a NUL (or at least
/// [`MAX_HOST_TEXT`] readable units).
pub(super) unsafe fn read_utf16(text: *const u16) -> Option<String> {
    if text.is_null() {
        return None;
    }
    let mut len = 0;
    // SAFETY: the caller's contract: readable up to the NUL or the bound.
    while len < MAX_HOST_TEXT && unsafe { *text.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: the `len` units just read.
    String::from_utf16(unsafe { std::slice::from_raw_parts(text, len) }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_and_terminated() {
        let mut c = [1 as c_char; 4];
        copy_c(&mut c, "Input");
        assert_eq!(c, [b'I' as c_char, b'n' as c_char, b'p' as c_char, 0]);
        // "é" is two bytes: cutting after one would split it.
        let mut c = [1 as c_char; 3];
        copy_c(&mut c, "aé");
        assert_eq!(c, [b'a' as c_char, 0, 1]);
        let mut wide = [1u16; 3];
        copy_utf16(&mut wide, "a😀");
        assert_eq!(wide, [u16::from(b'a'), 0, 1], "a surrogate pair is never split");
        let text: Vec<u16> = "-6 dB".encode_utf16().chain([0]).collect();
        // SAFETY: NUL-terminated.
        assert_eq!(unsafe { read_utf16(text.as_ptr()) }.as_deref(), Some("-6 dB"));
    }
}
