//! The settings file (`--config FILE`): TOML, one key per flag, named as the
//! flag without its dashes, as etcd, NATS and Consul take theirs:
//!
//! ```toml
//! host = "0.0.0.0:8000"
//! data-dir = "/var/lib/kv-store"
//! fsync = "everysec"
//! max-batch = 512
//! access-log = true
//! ```
//!
//! Its settings become flags placed before the command line's, for those
//! that neither a flag nor an environment variable gives: flags win over
//! the environment, which wins over the file, which wins over the defaults.

use std::ffi::OsString;
use std::path::Path;

/// A flag the server takes, as the settings file sees it.
#[derive(Debug, Clone)]
pub(super) struct Flag {
    /// Its name without the dashes (`max-batch`).
    pub(super) long: &'static str,
    /// Whether it takes a value (`--max-batch 512`) or is a switch
    /// (`--in-memory`).
    pub(super) takes_value: bool,
    /// Whether the command line or the environment already gives it.
    pub(super) given: bool,
}

/// `args` (the program name first) with the settings of the file at `path`
/// inserted after the program name, as flags, for each flag not `given`.
///
/// # Errors
///
/// The file cannot be read, is not TOML, names a setting that is not a
/// flag, or gives one a value of the wrong kind: a message naming the file.
pub(super) fn insert_settings(
    path: &Path,
    mut args: Vec<OsString>,
    flags: &[Flag],
) -> Result<Vec<OsString>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the settings file {}: {e}", path.display()))?;
    let settings = settings_as_flags(&text, flags)
        .map_err(|e| format!("in the settings file {}: {e}", path.display()))?;
    let at = args.len().min(1);
    args.splice(at..at, settings.into_iter().map(OsString::from));
    Ok(args)
}

/// The flags the TOML `text` gives, for those not already `given`.
fn settings_as_flags(text: &str, flags: &[Flag]) -> Result<Vec<String>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        e.to_string().lines().next().unwrap_or_default().to_owned()
    })?;
    let mut out = Vec::new();
    for (name, value) in &table {
        if name == "config" {
            return Err("`config` cannot name another settings file".into());
        }
        let flag = flags.iter().find(|f| f.long == name).ok_or_else(|| {
            format!("unknown setting `{name}`: settings are named as the flags without their dashes (max-batch = 512); see server --help")
        })?;
        let text = scalar(name, value)?;
        if flag.given {
            continue;
        }
        if flag.takes_value {
            out.push(format!("--{name}={text}"));
            continue;
        }
        match value {
            toml::Value::Boolean(true) => out.push(format!("--{name}")),
            toml::Value::Boolean(false) => {}
            _ => return Err(format!("`{name}` is a switch: true or false, not {text}")),
        }
    }
    Ok(out)
}

/// A setting's value as its flag would be written.
fn scalar(name: &str, value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(text) => Ok(text.clone()),
        toml::Value::Integer(n) => Ok(n.to_string()),
        toml::Value::Float(x) => Ok(x.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(format!("`{name}` must be a string, a number or a boolean")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(given: &[&'static str]) -> Vec<Flag> {
        let flag = |long: &'static str, takes_value| Flag {
            long,
            takes_value,
            given: given.contains(&long),
        };
        vec![
            flag("max-batch", true),
            flag("data-dir", true),
            flag("compact-ratio", true),
            flag("in-memory", false),
            flag("repair", false),
        ]
    }

    #[test]
    fn settings_become_flags_unless_given() {
        let text = "max-batch = 512\ndata-dir = \"/srv/kv\"\ncompact-ratio = 1.5\nin-memory = true\nrepair = false\n";
        // In the table's order: by name.
        assert_eq!(
            settings_as_flags(text, &flags(&[])).expect("valid"),
            [
                "--compact-ratio=1.5",
                "--data-dir=/srv/kv",
                "--in-memory",
                "--max-batch=512"
            ]
        );
        assert_eq!(
            settings_as_flags(text, &flags(&["max-batch", "in-memory"])).expect("valid"),
            ["--compact-ratio=1.5", "--data-dir=/srv/kv"]
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: &str| settings_as_flags(text, &flags(&[])).expect_err(text);
        assert!(err("max_batch = 5").contains("unknown setting `max_batch`"));
        assert!(err("in-memory = \"yes\"").contains("switch"));
        assert!(err("max-batch = [1]").contains("a string, a number or a boolean"));
        assert!(err("config = \"other.toml\"").contains("another settings file"));
        assert!(
            err("max-batch = ").contains("line 1"),
            "{}",
            err("max-batch = ")
        );
    }
}
