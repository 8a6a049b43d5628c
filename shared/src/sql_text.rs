//! How SQL files from `sql/` are embedded: `sql!("name.sql")` is the file without its comment
//! lines and indentation. The files keep the prose that explains each statement; the binary
//! need not carry it (about a third of the text, 20 KB of a 6 MB budget). Done at compile time,
//! so a statement costs nothing at run time and a bad file fails the build.
//!
//! Only whole-line `--` comments and leading blanks go: a `--` after code stays, and so does
//! every line break, so a string literal or a `$$` body never changes meaning — except for a
//! literal spanning lines that starts a line with `--` or blanks, which `sql/` does not use
//! (migrations, whose text is checksummed, are embedded verbatim with `include_str!`).

/// Writes the compacted `src` into `out` (as far as it fits) and returns its full length: call
/// once with an empty `out` for the length, then with a buffer of that length.
pub const fn compact(src: &[u8], out: &mut [u8]) -> usize {
    let mut len = 0;
    let mut i = 0;
    while i < src.len() {
        // Skip the line's leading blanks.
        while i < src.len() && (src[i] == b' ' || src[i] == b'\t') {
            i += 1;
        }
        let comment = i + 1 < src.len() && src[i] == b'-' && src[i + 1] == b'-';
        while i < src.len() {
            let byte = src[i];
            i += 1;
            if !comment {
                if len < out.len() {
                    out[len] = byte;
                }
                len += 1;
            }
            if byte == b'\n' {
                break;
            }
        }
    }
    len
}

/// Embed `sql/FILE` from the workspace root, compacted (see the module documentation).
#[macro_export]
macro_rules! sql {
    ($file:literal) => {{
        const RAW: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/", $file));
        const LEN: usize = $crate::sql_text::compact(RAW, &mut []);
        const BYTES: [u8; LEN] = {
            let mut out = [0u8; LEN];
            $crate::sql_text::compact(RAW, &mut out);
            out
        };
        match ::core::str::from_utf8(&BYTES) {
            Ok(text) => text,
            Err(_) => panic!(concat!("sql/", $file, " is not UTF-8")),
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::compact;

    fn compacted(src: &str) -> String {
        let mut out = vec![0u8; compact(src.as_bytes(), &mut [])];
        compact(src.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn comment_lines_and_indentation_go_and_everything_else_stays() {
        let src =
            "-- header\n-- more\nSELECT a, -- why\n    b\n\n  -- inner\n\tFROM t\nWHERE x = '--'";
        assert_eq!(
            compacted(src),
            "SELECT a, -- why\nb\n\nFROM t\nWHERE x = '--'"
        );
        assert_eq!(compacted(""), "");
        assert_eq!(compacted("--only"), "");
    }

    #[test]
    fn the_macro_compacts_a_real_file() {
        let text: &str = crate::sql!("health_check.sql");
        assert!(!text.contains("--"), "{text}");
        assert!(text.contains("SELECT"), "{text}");
    }
}
