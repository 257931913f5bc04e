//! The console's files, built into the binary from `kv-server/ui/` with
//! `include_bytes!` (no Node, no bundler: plain HTML, CSS and JavaScript
//! modules), each with its content type and an entity tag.

use std::sync::OnceLock;

/// One file of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// Its path under `/ui/` (and under `kv-server/ui/`).
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// The page `/ui/` serves.
pub const INDEX: &str = "index.html";

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! assets {
    ($( $path:literal => $content_type:expr ),* $(,)?) => {
        /// Every file of the console (a test checks it against the folder).
        pub const ASSETS: &[Asset] = &[ $( Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/", $path)),
        } ),* ];
    };
}

assets! {
    "index.html" => HTML,
    "console.css" => CSS,
    "icon.svg" => SVG,
    "js/api.js" => JS,
    "js/app.js" => JS,
    "js/dialog.js" => JS,
    "js/dom.js" => JS,
    "js/feed.js" => JS,
    "js/key_editor.js" => JS,
    "js/key_panel.js" => JS,
    "js/live.js" => JS,
    "js/notice.js" => JS,
    "js/session.js" => JS,
    "js/sse.js" => JS,
    "js/status.js" => JS,
    "js/tree.js" => JS,
    "js/value_format.js" => JS,
}

/// The asset at `path` (`""` is the index page) and its entity tag.
pub fn find(path: &str) -> Option<(&'static Asset, &'static str)> {
    let path = if path.is_empty() { INDEX } else { path };
    let at = ASSETS.iter().position(|asset| asset.path == path)?;
    Some((&ASSETS[at], etags()[at].as_str()))
}

/// Each asset's entity tag, in [`ASSETS`] order: a hash of its bytes, so
/// it changes exactly when the file does (and is the same on every server
/// built from the same files).
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| format!("\"{:016x}\"", fnv1a(asset.body)))
            .collect()
    })
}

/// FNV-1a, 64 bits: a stable hash of a file's bytes (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn files_under(dir: &Path, base: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("the ui folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                files_under(&path, base, found);
            } else {
                let relative = path.strip_prefix(base).expect("under the base");
                found.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn every_file_of_the_ui_folder_is_served_and_nothing_else() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut on_disk = Vec::new();
        files_under(&base, &base, &mut on_disk);
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        served.sort();
        assert_eq!(served, on_disk);
    }

    #[test]
    fn content_types_follow_the_extension() {
        for asset in ASSETS {
            let extension = asset.path.rsplit('.').next().expect("an extension");
            let expected = match extension {
                "html" => HTML,
                "css" => CSS,
                "js" => JS,
                "svg" => SVG,
                other => panic!("no content type for .{other}"),
            };
            assert_eq!(asset.content_type, expected, "{}", asset.path);
        }
    }

    #[test]
    fn the_index_is_served_at_the_root_and_tags_differ_by_content() {
        let (index, tag) = find("").expect("the index");
        assert_eq!(index.path, INDEX);
        assert_eq!(find(INDEX).expect("by name").1, tag);
        assert!(find("nope.js").is_none());
        assert!(find("../Cargo.toml").is_none());
        let (css, css_tag) = find("console.css").expect("the style sheet");
        assert_ne!(tag, css_tag, "{} and {}", index.path, css.path);
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
