//! Browsing: the tree by `/` with folder counts, paging through 1,000
//! keys, the prefix filter; a key's value as hex, JSON or text with its
//! metadata and time left; a key made of markup shown as text; the narrow
//! layout.

use serde_json::{json, Value};

use crate::{place, Console};

/// The keys of the tree's rows, in order.
const ROW_KEYS: &str =
    "return [...document.querySelectorAll('#tree li.key')].map(li => li.dataset.key);";

fn row_keys(console: &Console) -> Vec<String> {
    serde_json::from_value(console.browser.execute(ROW_KEYS, &[])).expect("a list of keys")
}

/// Waits until the tree's first key row is `first`, on page `page`.
fn wait_page(console: &Console, page: u32, first: &str) {
    console.wait(
        &format!("page {page} to start at {first}"),
        "const row = document.querySelector('#tree li.key');
         return row !== null && row.dataset.key === arguments[0]
             && document.getElementById('page-info').dataset.page === String(arguments[1]);",
        &[json!(first), json!(page)],
    );
}

#[test]
fn a_thousand_keys_are_browsed_page_by_page_with_folder_counts_and_a_filter() {
    let Some(console) = Console::start("tree", &[]) else {
        return;
    };
    let keys: Vec<String> = (0..1000).map(|i| format!("bulk/key-{i:04}")).collect();
    console.put_many(&keys);
    console.put_many(&["other/a".into(), "other/b".into(), "top-level".into()]);
    console.open("");
    console.wait(
        "the folders' counts",
        "const count = p => document.querySelector(`#tree li.folder[data-prefix=\"${p}\"] .count`)?.textContent;
         return count('bulk/') === '1000' && count('other/') === '2';",
        &[],
    );
    assert_eq!(row_keys(&console), ["top-level"]);
    // The status strip: 11 transactions, in memory, writable, no NATS;
    // no mode without GET /v1/status (404), or "single server" with it.
    console.wait_text("#status [data-item='rev']", "rev 11");
    let strip = console.browser.execute(
        "const item = name => document.querySelector(`#status [data-item=\"${name}\"]`)?.textContent ?? null;
         return [item('storage'), item('writable'), item('nats'), item('mode'), item('lag')];",
        &[],
    );
    assert_eq!(strip[0], "storage: memory");
    assert_eq!(strip[1], "writable");
    assert_eq!(strip[2], "NATS: off");
    assert!(
        strip[3].is_null() || strip[3] == "single server",
        "mode: {}",
        strip[3]
    );
    assert!(strip[4].is_null(), "no lag on a single server");
    console.screenshot("tree");

    console.click("#tree li.folder[data-prefix='bulk/'] a");
    wait_page(&console, 1, "bulk/key-0000");
    assert_eq!(row_keys(&console), keys[..100]);
    assert_eq!(console.text("#crumbs"), "all keys / bulk");
    for page in 2..=10u32 {
        console.click("#next-page");
        let start = (page as usize - 1) * 100;
        wait_page(&console, page, &keys[start]);
        assert_eq!(row_keys(&console), keys[start..start + 100], "page {page}");
    }
    assert_eq!(
        console.browser.find("#next-page").property("disabled"),
        json!(true),
        "no page after the last"
    );
    console.click("#prev-page");
    wait_page(&console, 9, "bulk/key-0800");

    let filter = console.browser.find("#filter");
    filter.send_keys("key-05");
    wait_page(&console, 1, "bulk/key-0500");
    console.wait(
        "the filtered page to hold key-0500 to key-0599",
        "const rows = document.querySelectorAll('#tree li.key');
         return rows.length === 100 && rows[99].dataset.key === 'bulk/key-0599';",
        &[],
    );
    assert_eq!(row_keys(&console), keys[500..600]);
    assert_eq!(
        console.browser.find("#next-page").property("disabled"),
        json!(true)
    );
    console.screenshot("tree-filtered");
}

/// Waits until the key panel shows `key`, and returns its metadata fields.
fn shown_entry(console: &Console, key: &str) -> Value {
    console.wait_text("#key-name", key);
    console.browser.execute(
        "const fields = {};
         for (const dd of document.querySelectorAll('#key-meta dd')) fields[dd.dataset.field] = dd.textContent;
         fields.view = document.getElementById('value').dataset.view;
         fields.value = document.getElementById('value').textContent;
         fields.ms_left = document.querySelector('[data-field=expires]').dataset.msLeft;
         return fields;",
        &[],
    )
}

fn assert_metadata(shown: &Value, entry: &Value, key: &str) {
    for field in ["create_rev", "mod_rev", "version"] {
        assert_eq!(
            shown[field],
            json!(entry[field].to_string()),
            "{key}: {field}"
        );
    }
}

#[test]
fn a_value_shows_as_hex_json_or_text_with_its_metadata_and_time_left() {
    let Some(console) = Console::start("key", &[]) else {
        return;
    };
    let binary: Vec<u8> = (0u8..40).chain([0xff, 0xfe, 0x80]).collect();
    console.put("files/blob.bin", "application/octet-stream", &binary);
    console.put("files/blob.bin", "application/octet-stream", &binary);
    let json_text = r#"{"name":"Ada","langs":["en","fr"],"admin":true}"#;
    let answer = console.call(
        "PUT",
        "/v1/kv/users%2Fada?ttl=10m",
        Some(("application/json", json_text.as_bytes())),
    );
    assert_eq!(answer.status, 201, "{}", answer.text());
    console.put("notes/readme", "text/plain; charset=utf-8", b"hello\nworld");

    console.open(&place("files/", Some("files/blob.bin")));
    let shown = shown_entry(&console, "files/blob.bin");
    assert_eq!(shown["view"], "hex");
    let dump = shown["value"].as_str().expect("text");
    assert!(
        dump.starts_with(
            "00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|"
        ),
        "{dump}"
    );
    assert!(dump.contains("ff fe 80"), "{dump}");
    assert_eq!(shown["content_type"], "application/octet-stream");
    assert_eq!(shown["size"], "43 B");
    assert_eq!(shown["expires"], "never");
    let entry = console.entry("files/blob.bin").expect("the key");
    assert_metadata(&shown, &entry, "files/blob.bin");
    assert_eq!(shown["version"], "2");
    console.screenshot("key-binary");

    console.open(&place("users/", Some("users/ada")));
    let shown = shown_entry(&console, "users/ada");
    assert_eq!(shown["view"], "json");
    assert_eq!(
        shown["value"],
        "{\n  \"name\": \"Ada\",\n  \"langs\": [\n    \"en\",\n    \"fr\"\n  ],\n  \"admin\": true\n}"
    );
    assert_eq!(shown["content_type"], "application/json");
    let expires = shown["expires"].as_str().expect("text");
    assert!(
        expires.starts_with("in 9m") || expires.starts_with("in 10m"),
        "{expires}"
    );
    let left: u64 = shown["ms_left"]
        .as_str()
        .expect("ms")
        .parse()
        .expect("a number");
    assert!((8 * 60_000..=600_000).contains(&left), "{left} ms left");
    assert_metadata(
        &shown,
        &console.entry("users/ada").expect("the key"),
        "users/ada",
    );
    console.screenshot("key");

    // The view can be switched: the same JSON as raw text.
    console.click(".view-switch button[data-view='text']");
    console.wait_text("#value", json_text);

    console.open(&place("notes/", Some("notes/readme")));
    let shown = shown_entry(&console, "notes/readme");
    assert_eq!(shown["view"], "text");
    assert_eq!(shown["value"], "hello\nworld");
}

/// A key that is markup: it must show as these characters, and run nothing.
const MARKUP_KEY: &str = "<img src=x onerror=alert(1)>";
/// A value that is markup and script.
const MARKUP_VALUE: &str =
    "<script>alert(2)</script><img src=y onerror=\"document.title='pwned'\"><b>bold?</b>";

#[test]
fn a_key_and_value_made_of_markup_show_as_text_and_run_nothing() {
    let Some(console) = Console::start("xss", &[]) else {
        return;
    };
    console.put(
        MARKUP_KEY,
        "text/html; charset=utf-8",
        MARKUP_VALUE.as_bytes(),
    );
    console.open("");
    console.wait(
        "the tree row of the markup key",
        "const row = [...document.querySelectorAll('#tree li.key')].find(li => li.dataset.key === arguments[0]);
         return row !== undefined && row.querySelector('a').textContent === arguments[0];",
        &[json!(MARKUP_KEY)],
    );
    console.browser.execute(
        "[...document.querySelectorAll('#tree li.key')].find(li => li.dataset.key === arguments[0]).querySelector('a').click();",
        &[json!(MARKUP_KEY)],
    );
    console.wait_text("#key-name", MARKUP_KEY);
    console.wait_text("#value", MARKUP_VALUE);
    // A change arrives on the feed with the same key and value.
    console.wait(
        "the feed to be live",
        "return document.getElementById('feed-state').dataset.state === 'live';",
        &[],
    );
    let rev = console.put(
        MARKUP_KEY,
        "text/html; charset=utf-8",
        MARKUP_VALUE.as_bytes(),
    );
    console.wait(
        "the feed row of the markup key",
        "const row = document.querySelector(`#feed-events li[data-rev=\"${arguments[1]}\"]`);
         return row !== null && row.querySelector('.key').textContent === arguments[0];",
        &[json!(MARKUP_KEY), json!(rev)],
    );
    // The tree follows the change too (the row now says version 2).
    console.wait(
        "the tree row to show version 2",
        "const row = [...document.querySelectorAll('#tree li.key')].find(li => li.dataset.key === arguments[0]);
         return row.querySelector('a').textContent === arguments[0] && row.querySelector('.meta').textContent.endsWith('v2');",
        &[json!(MARKUP_KEY)],
    );
    console.screenshot("xss");

    assert_eq!(console.browser.alert_text(), None, "an alert opened");
    let page = console.browser.execute(
        "let sink;
         try { document.createElement('div').innerHTML = '<b>x</b>'; sink = 'parsed'; }
         catch (e) { sink = e.name; }
         return {
           images: [...document.images].map(i => i.getAttribute('src')),
           scripts: document.scripts.length,
           bold: document.querySelectorAll('b').length,
           title: document.title,
           sink,
         };",
        &[],
    );
    assert_eq!(
        page["images"],
        json!(["icon.svg"]),
        "only the page's own image"
    );
    assert_eq!(page["scripts"], 1, "only the console's module");
    assert_eq!(page["bold"], 0, "markup in a value was parsed");
    assert_eq!(page["title"], "kv-store console");
    assert_eq!(
        page["sink"], "TypeError",
        "Trusted Types refuse strings as HTML"
    );
}

#[test]
fn a_narrow_screen_shows_one_panel_at_a_time_without_overflow() {
    let Some(console) = Console::start_sized("narrow", &[], 375, 812) else {
        return;
    };
    console.browser.set_window_size(375, 812);
    console.put(
        "users/ada",
        "application/json",
        br#"{"name":"Ada","langs":["en","fr"]}"#,
    );
    console.put("users/bob", "text/plain", b"Bob");
    console.put("config/limits", "text/plain", b"10");
    console.open(&place("users/", None));
    assert_eq!(
        console.browser.execute("return window.innerWidth;", &[]),
        375
    );
    let shown = |expected: &str| {
        console.wait(
            &format!("only the {expected} panel to show"),
            "const shown = id => getComputedStyle(document.getElementById(id)).display !== 'none';
             const panels = ['tree-panel', 'key-panel', 'feed-panel'].filter(shown);
             return panels.length === 1 && panels[0] === arguments[0]
                 && document.documentElement.scrollWidth <= window.innerWidth;",
            &[json!(expected)],
        );
    };
    console.wait(
        "the tree",
        "return document.querySelectorAll('#tree li.key').length === 2;",
        &[],
    );
    shown("tree-panel");
    console.screenshot("narrow-tree");

    console.click("#tree li.key[data-key='users/ada'] a");
    console.wait_text("#key-name", "users/ada");
    shown("key-panel");
    console.screenshot("narrow-key");

    console.click(".tabs button[data-panel='feed']");
    shown("feed-panel");
    let rev = console.put("users/bob", "text/plain", b"Robert");
    console.wait(
        "the change in the feed",
        "return document.querySelector(`#feed-events li[data-rev=\"${arguments[0]}\"]`) !== null;",
        &[json!(rev)],
    );
    console.screenshot("narrow-feed");
}
