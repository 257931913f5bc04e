//! Writing from the page: a key created in the page reads back over the
//! API; an edit of a revision someone else replaced shows both versions and
//! saves nothing until asked; deleting by prefix asks with the count; a
//! read-only token cannot save, and the page says which right is missing.

use serde_json::json;

use crate::{place, Console, VIEWER};

/// Replaces the text of the input or text area `selector` with `text`.
fn fill(console: &Console, selector: &str, text: &str) {
    let field = console.browser.find(selector);
    field.clear();
    field.send_keys(text);
}

#[test]
fn a_key_created_in_the_page_reads_back_over_the_api() {
    let Some(console) = Console::start("create", &[]) else {
        return;
    };
    console.put("notes/old", "text/plain", b"an older note");
    console.open(&place("notes/", None));
    console.wait(
        "the folder's key",
        "return document.querySelector('#tree li.key') !== null;",
        &[],
    );
    console.click("#new-key");
    console.wait_text("#editor-key", "");
    assert_eq!(
        console.browser.find("#editor-key").property("value"),
        json!("notes/"),
        "a new key starts in the folder shown"
    );
    fill(&console, "#editor-key", "notes/today");
    fill(&console, "#editor-type", "application/json");
    fill(&console, "#editor-value", r#"{"todo": ["write", "test"]}"#);
    console.browser.execute(
        "const select = document.getElementById('editor-expiry');
         select.value = 'ttl'; select.dispatchEvent(new Event('change'));",
        &[],
    );
    fill(&console, "#editor-ttl", "1h");
    console.screenshot("create");
    console.click("#save-button");
    console.wait_text("#key-name", "notes/today");

    let entry = console.entry("notes/today").expect("the key was created");
    assert_eq!(entry["value"], r#"{"todo": ["write", "test"]}"#);
    assert_eq!(entry["content_type"], "application/json");
    let expires_at = entry["expires_at"].as_u64().expect("an expiry");
    let left = expires_at.saturating_sub(kv_testkit::now_ms());
    assert!((3_500_000..=3_600_000).contains(&left), "{left} ms left");
    assert_eq!(
        console.text("#key-meta [data-field='mod_rev']"),
        entry["mod_rev"].to_string()
    );
    assert!(console.text("#key-notice").starts_with("Saved at revision"));
    // The tree shows the new key (the page follows its own writes).
    console.wait(
        "the new key in the tree",
        "return [...document.querySelectorAll('#tree li.key')].some(li => li.dataset.key === 'notes/today');",
        &[],
    );
    // Creating a key that exists is refused with both versions shown.
    console.click("#new-key");
    fill(&console, "#editor-key", "notes/old");
    fill(&console, "#editor-value", "mine");
    console.click("#save-button");
    console.wait_text("#conflict-theirs", "an older note");
    assert_eq!(
        console.entry("notes/old").expect("kept")["value"],
        "an older note"
    );
}

#[test]
fn saving_over_a_revision_someone_else_replaced_shows_both_and_saves_nothing() {
    let Some(console) = Console::start("conflict", &[]) else {
        return;
    };
    let first = console.put("app/config", "application/json", br#"{"replicas": 2}"#);
    console.open(&place("app/", Some("app/config")));
    console.wait_text("#key-meta [data-field='mod_rev']", &first.to_string());
    console.click("#edit-button");
    fill(&console, "#editor-value", r#"{"replicas": 3}"#);
    // Meanwhile, someone else writes the key.
    let theirs = console.put("app/config", "application/json", br#"{"replicas": 5}"#);
    console.click("#save-button");
    console.wait(
        "the conflict",
        "return document.getElementById('conflict') !== null;",
        &[],
    );
    assert_eq!(console.text("#conflict-mine"), "{\n  \"replicas\": 3\n}");
    assert_eq!(console.text("#conflict-theirs"), "{\n  \"replicas\": 5\n}");
    let message = console.text("#conflict-message");
    assert!(
        message.contains(&format!("you edited revision {first}"))
            && message.contains(&format!("it is now at revision {theirs}"))
            && message.contains("Nothing was saved"),
        "{message}"
    );
    assert_eq!(
        console.entry("app/config").expect("the key")["value"],
        r#"{"replicas": 5}"#,
        "the other write stands"
    );
    console.screenshot("conflict");

    // Saving over it is a deliberate act, at the revision now shown.
    console.wait_text(
        "#overwrite-button",
        &format!("Save mine over revision {theirs}"),
    );
    console.click("#overwrite-button");
    console.wait_text("#value", "{\n  \"replicas\": 3\n}");
    let entry = console.entry("app/config").expect("the key");
    assert_eq!(entry["value"], r#"{"replicas": 3}"#);
    assert_eq!(entry["version"], 3);
}

#[test]
fn deleting_a_key_and_a_prefix_asks_first_with_the_count() {
    let Some(console) = Console::start("delete", &[]) else {
        return;
    };
    let keys: Vec<String> = (0..37).map(|i| format!("old/{i:02}")).collect();
    console.put_many(&keys);
    console.put("keep/me", "text/plain", b"kept");
    let rev = console.put("keep/gone", "text/plain", b"doomed");

    console.open(&place("keep/", Some("keep/gone")));
    console.wait_text("#key-meta [data-field='mod_rev']", &rev.to_string());
    console.click("#delete-button");
    console.wait_text(
        "#confirm-message",
        &format!("Delete “keep/gone” (revision {rev})? This cannot be undone."),
    );
    console.click("#confirm-ok");
    console.wait_text("#key-missing", "There is no such key (now).");
    assert_eq!(console.entry("keep/gone"), None);

    console.open(&place("old/", None));
    console.wait(
        "the 37 keys",
        "return document.querySelectorAll('#tree li.key').length === 37;",
        &[],
    );
    console.click("#delete-prefix");
    console.wait_text(
        "#confirm-message",
        "Delete 37 keys under “old/”? This cannot be undone.",
    );
    console.screenshot("delete-prefix");
    // Cancelling deletes nothing.
    console.click("#confirm-cancel");
    console.wait(
        "the dialog to close",
        "return !document.getElementById('confirm').open;",
        &[],
    );
    assert!(console.entry("old/00").is_some());
    console.click("#delete-prefix");
    console.wait_text("#confirm-ok", "Delete 37 keys");
    console.click("#confirm-ok");
    console.wait(
        "the note of the deletion",
        "return document.getElementById('tree-notice').textContent.startsWith('Deleted 37 keys under “old/”');",
        &[],
    );
    let listing = console.call("GET", "/v1/kv?prefix=old/", None).json();
    assert_eq!(listing["entries"], json!([]));
    assert!(console.entry("keep/me").is_some(), "other keys stay");
}

#[test]
fn a_read_only_token_cannot_save_and_the_page_names_the_missing_right() {
    let Some(console) = Console::start_with_tokens("read-only") else {
        return;
    };
    let rev = console.put("shared/motd", "text/plain", b"hello");
    console.open(&place("shared/", Some("shared/motd")));
    // Without a token the page asks for one.
    console.wait(
        "the request for a token",
        "return !document.getElementById('signin-hint').hidden;",
        &[],
    );
    let token = console.browser.find("#token");
    token.send_keys(VIEWER);
    token.send_keys(kv_testkit::browser::ENTER);
    console.wait_text("#key-meta [data-field='mod_rev']", &rev.to_string());
    assert_eq!(
        console
            .browser
            .execute("return document.getElementById('signed-in').hidden;", &[]),
        false
    );
    // The token is kept for this tab only, never as a cookie.
    let stored = console.browser.execute(
        "return { session: sessionStorage.getItem('kv-console-token'), local: localStorage.length, cookie: document.cookie };",
        &[],
    );
    assert_eq!(stored, json!({"session": VIEWER, "local": 0, "cookie": ""}));

    console.click("#edit-button");
    fill(&console, "#editor-value", "defaced");
    console.click("#save-button");
    console.wait(
        "the refusal",
        "return document.getElementById('key-notice').dataset.missingRight === 'write';",
        &[],
    );
    let notice = console.text("#key-notice");
    assert!(notice.starts_with("Missing right: write."), "{notice}");
    assert!(notice.contains("\"viewer\""), "{notice}");
    assert_eq!(
        console.entry("shared/motd").expect("the key")["value"],
        "hello"
    );
    console.screenshot("read-only");
}
