//! What an upload must be: a clean file name, an accepted MIME type, and
//! content whose first bytes match that type (a file is judged by what it is,
//! not by what it says it is).

use crate::domain::MessageKind;

/// Bytes of an object read to recognize its type.
pub const SNIFF_BYTES: u64 = 512;

/// A file name as shown to readers: the last path component, without control
/// characters or characters that are unsafe in a header or on a desktop, not
/// starting with a dot, at most 255 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
        let cleaned: String = last
            .chars()
            .filter(|c| !c.is_control())
            .map(|c| match c {
                '"' | '<' | '>' | ':' | '|' | '?' | '*' | ';' => '_',
                other => other,
            })
            .collect();
        let trimmed = cleaned.trim().trim_start_matches('.').trim();
        if trimmed.is_empty() {
            return Err("filename must name a file".into());
        }
        let mut name = String::new();
        for c in trimmed.chars() {
            if name.len() + c.len_utf8() > 255 {
                break;
            }
            name.push(c);
        }
        Ok(Self(name.trim_end().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A MIME type pgchat can recognize by content. Anything else (HTML, SVG,
/// scripts…) is refused: a type we cannot check is a type we cannot trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MimeType(&'static str);

/// The types with a known signature. (`text/plain` is recognized as UTF-8
/// text without NUL or binary control characters.) The browser client keeps
/// a copy (`ATTACHMENT_TYPES` in web/client/pgchat.js, which has no
/// dependencies so that it can be copied into an app); a test holds it equal.
const KNOWN: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "application/zip",
    "text/plain",
    "audio/mpeg",
    "audio/ogg",
    "audio/wav",
    "video/mp4",
    "video/webm",
];

impl MimeType {
    /// Parses a declared type: lowercase, parameters dropped, common aliases
    /// folded (`image/jpg`, `audio/x-wav`, `audio/mp3`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let essence = raw
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let folded = match essence.as_str() {
            "image/jpg" | "image/pjpeg" => "image/jpeg",
            "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "audio/wav",
            "audio/mp3" => "audio/mpeg",
            "application/x-zip-compressed" => "application/zip",
            other => other,
        };
        KNOWN
            .iter()
            .find(|known| **known == folded)
            .map(|known| Self(known))
            .ok_or_else(|| format!("unsupported MIME type `{essence}`"))
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The message kind a file of this type makes.
    pub fn kind(self) -> MessageKind {
        match self.0.split('/').next() {
            Some("image") => MessageKind::Image,
            Some("audio") => MessageKind::Audio,
            Some("video") => MessageKind::Video,
            _ => MessageKind::File,
        }
    }

    /// Images get thumbnails.
    pub fn is_image(self) -> bool {
        self.kind() == MessageKind::Image
    }

    /// Whether browsers may show it in place (media); everything else is
    /// served as a download.
    pub fn inline(self) -> bool {
        matches!(
            self.kind(),
            MessageKind::Image | MessageKind::Audio | MessageKind::Video
        )
    }

    /// The Content-Type a download answers with.
    pub fn content_type(self) -> &'static str {
        match self.0 {
            "text/plain" => "text/plain; charset=utf-8",
            other => other,
        }
    }

    /// Whether `head` (the object's first bytes) is a file of this type.
    pub fn matches(self, head: &[u8]) -> bool {
        let at =
            |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
        match self.0 {
            "image/png" => at(0, b"\x89PNG\r\n\x1a\n"),
            "image/jpeg" => at(0, b"\xff\xd8\xff"),
            "image/gif" => at(0, b"GIF87a") || at(0, b"GIF89a"),
            "image/webp" => at(0, b"RIFF") && at(8, b"WEBP"),
            "application/pdf" => at(0, b"%PDF-"),
            "application/zip" => at(0, b"PK\x03\x04") || at(0, b"PK\x05\x06"),
            "audio/mpeg" => {
                at(0, b"ID3") || (head.len() >= 2 && head[0] == 0xff && head[1] & 0xe0 == 0xe0)
            }
            "audio/ogg" => at(0, b"OggS"),
            "audio/wav" => at(0, b"RIFF") && at(8, b"WAVE"),
            "video/mp4" => at(4, b"ftyp"),
            "video/webm" => at(0, b"\x1a\x45\xdf\xa3"),
            "text/plain" => is_text(head),
            _ => false,
        }
    }
}

/// UTF-8 (a character cut by the end of `head` is fine) without NUL or other
/// control characters than tab, newlines and form feed.
fn is_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(text) => text,
        // `error_len() == None`: only an incomplete character at the very end.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !head.is_empty()
        && valid
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'))
}

/// `Content-Disposition` for a download: `inline` for media, `attachment`
/// otherwise, with an ASCII fallback name and the exact name in RFC 5987 form.
pub fn disposition(inline: bool, name: &FileName) -> String {
    let ascii: String = name
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii() && c != '\\' && c != '"' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.as_str().bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    let kind = if inline { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_clients_attachment_types_are_these() {
        let js = include_str!("../../web/client/pgchat.js");
        let list = js
            .split("export const ATTACHMENT_TYPES = [")
            .nth(1)
            .and_then(|rest| rest.split("];").next())
            .expect("ATTACHMENT_TYPES in pgchat.js");
        let types: Vec<&str> = list
            .split(',')
            .map(|t| t.trim().trim_matches('\''))
            .filter(|t| !t.is_empty())
            .collect();
        assert_eq!(types, KNOWN);
    }

    #[test]
    fn file_names_lose_paths_controls_and_leading_dots() {
        let name = |raw: &str| FileName::parse(raw).map(|n| n.0);
        assert_eq!(name("report.pdf").unwrap(), "report.pdf");
        assert_eq!(name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(name("C:\\Users\\me\\cat.png").unwrap(), "cat.png");
        assert_eq!(name(".htaccess").unwrap(), "htaccess");
        assert_eq!(name("a\"b\r\nc;d.txt").unwrap(), "a_bc_d.txt");
        assert_eq!(name("  spaced name.txt  ").unwrap(), "spaced name.txt");
        assert_eq!(name("héllo wörld.png").unwrap(), "héllo wörld.png");
        assert!(name("").is_err());
        assert!(name("dir/").is_err());
        assert!(name("...").is_err());
        let long = "é".repeat(300);
        let parsed = name(&long).unwrap();
        assert!(parsed.len() <= 255 && parsed.chars().all(|c| c == 'é'));
    }

    #[test]
    fn mime_types_are_folded_and_only_known_ones_accepted() {
        assert_eq!(MimeType::parse("Image/JPG").unwrap().as_str(), "image/jpeg");
        assert_eq!(
            MimeType::parse("text/plain; charset=utf-8")
                .unwrap()
                .as_str(),
            "text/plain"
        );
        assert!(MimeType::parse("text/html").is_err());
        assert!(MimeType::parse("image/svg+xml").is_err());
        assert_eq!(
            MimeType::parse("video/mp4").unwrap().kind(),
            MessageKind::Video
        );
        assert_eq!(
            MimeType::parse("application/pdf").unwrap().kind(),
            MessageKind::File
        );
    }

    #[test]
    fn content_must_match_the_declared_type() {
        let png = MimeType::parse("image/png").unwrap();
        assert!(png.matches(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"));
        assert!(!png.matches(b"<html><script>alert(1)</script>"));
        assert!(!png.matches(b"\xff\xd8\xff\xe0"));
        let jpeg = MimeType::parse("image/jpeg").unwrap();
        assert!(jpeg.matches(b"\xff\xd8\xff\xe0\0\x10JFIF"));
        let webp = MimeType::parse("image/webp").unwrap();
        assert!(webp.matches(b"RIFF\x10\0\0\0WEBPVP8 "));
        assert!(!MimeType::parse("audio/wav")
            .unwrap()
            .matches(b"RIFF\x10\0\0\0WEBPVP8 "));
        assert!(MimeType::parse("video/mp4")
            .unwrap()
            .matches(b"\0\0\0\x20ftypisom"));
        let mp3 = MimeType::parse("audio/mpeg").unwrap();
        assert!(mp3.matches(b"ID3\x04"));
        assert!(mp3.matches(b"\xff\xfb\x90\x64"));
        assert!(!mp3.matches(b"\xff\xd8\xff\xe0"));
        let text = MimeType::parse("text/plain").unwrap();
        assert!(text.matches("héllo\nworld\t!".as_bytes()));
        assert!(
            text.matches(&"é".as_bytes()[..1]),
            "a cut character at the end"
        );
        assert!(!text.matches(b"bin\0ary"));
        assert!(!text.matches(b"\xff\xfe\xfd"));
        assert!(!text.matches(b""));
    }

    #[test]
    fn dispositions_quote_safely() {
        let name = FileName::parse("résumé \"final\".pdf").unwrap();
        assert_eq!(
            disposition(false, &name),
            "attachment; filename=\"r_sum_ _final_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20_final_.pdf"
        );
        assert!(disposition(true, &name).starts_with("inline; "));
    }
}
