//! The live feed and the page following changes: a change made over the
//! API reaches the feed panel, the open key and the tree within a second;
//! pausing and resuming skips nothing; a resume from revisions the server
//! no longer keeps says so instead of skipping silently.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{place, Console};

/// How soon a change must show in the page.
const WITHIN: Duration = Duration::from_secs(1);

fn wait_live(console: &Console) {
    console.wait(
        "the feed to be live",
        "return document.getElementById('feed-state').dataset.state === 'live';",
        &[],
    );
}

/// The revisions of the feed's rows for keys under `prefix`, oldest first.
fn feed_revs(console: &Console, prefix: &str) -> Vec<u64> {
    let value = console.browser.execute(
        "return [...document.querySelectorAll('#feed-events li.event[data-key]')]
             .filter(li => li.dataset.key.startsWith(arguments[0]))
             .map(li => Number(li.dataset.rev)).reverse();",
        &[json!(prefix)],
    );
    serde_json::from_value(value).expect("revisions")
}

#[test]
fn a_change_over_the_api_reaches_the_feed_the_open_key_and_the_tree_within_a_second() {
    let Some(console) = Console::start("feed", &[]) else {
        return;
    };
    console.put("orders/17", "application/json", br#"{"status": "new"}"#);
    console.put("orders/18", "application/json", br#"{"status": "new"}"#);
    console.open(&place("orders/", Some("orders/17")));
    console.wait_text("#key-name", "orders/17");
    wait_live(&console);
    // Let the tree's own stream open too: it starts with a progress event.
    console.wait(
        "the tree's two keys",
        "return document.querySelectorAll('#tree li.key').length === 2;",
        &[],
    );

    let written = Instant::now();
    let rev = console.put("orders/17", "application/json", br#"{"status": "shipped"}"#);
    console.wait(
        "the change in the feed and in the open key",
        "const row = document.querySelector(`#feed-events li[data-rev=\"${arguments[0]}\"]`);
         const value = document.getElementById('value');
         return row !== null && row.dataset.op === 'set' && row.dataset.key === 'orders/17'
             && value !== null && value.textContent.includes('shipped')
             && document.querySelector('#key-meta [data-field=mod_rev]').textContent === String(arguments[0]);",
        &[json!(rev)],
    );
    let took = written.elapsed();
    assert!(took < WITHIN, "the change took {took:?} to show");
    assert!(console
        .text("#key-notice")
        .contains(&format!("updated on the server at revision {rev}")));

    let written = Instant::now();
    console.put("orders/19", "text/plain", b"new order");
    console.wait(
        "the new key in the tree",
        "return [...document.querySelectorAll('#tree li.key')].some(li => li.dataset.key === 'orders/19');",
        &[],
    );
    let took = written.elapsed();
    assert!(took < WITHIN, "the tree took {took:?} to show the new key");

    let deleted = console.call("DELETE", "/v1/kv/orders%2F18", None);
    assert_eq!(deleted.status, 200);
    console.wait(
        "the removal in the feed and in the tree",
        "const keys = [...document.querySelectorAll('#tree li.key')].map(li => li.dataset.key);
         return document.querySelector('#feed-events li[data-op=\"rm\"][data-key=\"orders/18\"]') !== null
             && keys.join(' ') === 'orders/17 orders/19';",
        &[],
    );
    console.screenshot("feed");
}

#[test]
fn pausing_the_feed_and_resuming_skips_nothing_and_repeats_nothing() {
    let Some(console) = Console::start("feed-pause", &[]) else {
        return;
    };
    console.open("");
    wait_live(&console);
    let before = console.put("p/before", "text/plain", b"0");
    console.wait(
        "the first change",
        "return document.querySelector(`#feed-events li[data-rev=\"${arguments[0]}\"]`) !== null;",
        &[json!(before)],
    );
    console.click("#feed-toggle");
    console.wait(
        "the pause",
        "return document.getElementById('feed-state').dataset.state === 'paused';",
        &[],
    );
    let mut expected = vec![before];
    for i in 0..5 {
        expected.push(console.put(&format!("p/{i}"), "text/plain", b"x"));
    }
    // Nothing arrives while paused.
    assert_eq!(feed_revs(&console, "p/"), [before]);
    console.wait_text("#feed-toggle", "Resume");
    // The tree follows a burst of changes while the feed panel is paused.
    console.wait(
        "the folder p/ with its 6 keys in the tree",
        "return document.querySelector('#tree li.folder[data-prefix=\"p/\"] .count')?.textContent === '6';",
        &[],
    );
    console.screenshot("feed-paused");
    console.click("#feed-toggle");
    console.wait(
        "the changes made while paused",
        "return document.querySelector(`#feed-events li[data-rev=\"${arguments[0]}\"]`) !== null;",
        &[json!(expected[5])],
    );
    assert_eq!(feed_revs(&console, "p/"), expected);

    // An op filter: only removals now.
    console.click("#feed-form input[value='set']");
    console.click("#feed-form input[value='expire']");
    wait_live(&console);
    console.put("p/set-after-filter", "text/plain", b"x");
    let removed = console.call("DELETE", "/v1/kv/p%2F0", None);
    let rm_rev = removed.json()["rev"].as_u64().expect("a revision");
    console.wait(
        "the removal",
        "return document.querySelector(`#feed-events li[data-rev=\"${arguments[0]}\"]`) !== null;",
        &[json!(rm_rev)],
    );
    let ops = console.browser.execute(
        "return [...document.querySelectorAll('#feed-events li.event[data-key]')].map(li => li.dataset.key);",
        &[],
    );
    assert!(
        !ops.as_array()
            .expect("keys")
            .contains(&json!("p/set-after-filter")),
        "a set passed the rm filter: {ops}"
    );
}

#[test]
fn resuming_after_the_server_dropped_the_revisions_says_which_were_missed() {
    let Some(console) = Console::start("feed-gone", &["--feed-ring-events", "4"]) else {
        return;
    };
    console.open("");
    wait_live(&console);
    let seen = console.put("g/seen", "text/plain", b"seen");
    console.wait(
        "the first change",
        "return document.getElementById('feed-state').dataset.lastRev === String(arguments[0]);",
        &[json!(seen)],
    );
    console.click("#feed-toggle");
    let keys: Vec<String> = (0..20).map(|i| format!("g/{i:02}")).collect();
    for key in &keys {
        console.put(key, "text/plain", b"x");
    }
    console.click("#feed-toggle");
    console.wait(
        "the 410 to be shown",
        "return document.getElementById('feed-notice').dataset.gone === 'true';",
        &[],
    );
    let notice = console.text("#feed-notice");
    assert!(
        notice.contains(&format!("after revision {seen}")) && notice.contains("cannot be shown"),
        "{notice}"
    );
    let gap = console.text("#feed-events li.gap");
    assert!(
        gap.starts_with(&format!("— revisions {} to ", seen + 1)),
        "{gap}"
    );
    assert!(
        feed_revs(&console, "g/").iter().all(|rev| *rev <= seen),
        "nothing after the gap yet"
    );
    console.screenshot("feed-gone");

    console.click("#feed-from-now");
    wait_live(&console);
    let after = console.put("g/after", "text/plain", b"x");
    console.wait(
        "a change after the restart",
        "return document.querySelector(`#feed-events li[data-rev=\"${arguments[0]}\"]`) !== null;",
        &[json!(after)],
    );
}

#[test]
fn a_feed_cut_by_the_server_says_from_which_revision_and_waits_to_be_resumed() {
    // A budget of one byte for all watch streams: the second event of a
    // transaction finds the first still waiting, and the stream is cut.
    let Some(console) = Console::start("feed-cut", &["--watch-total-buffer-bytes", "1"]) else {
        return;
    };
    console.open("");
    wait_live(&console);
    let keys: Vec<String> = (0..10).map(|i| format!("c/{i}")).collect();
    console.put_many(&keys);
    console.wait(
        "the cut to be shown",
        "return document.getElementById('feed-state').dataset.state === 'cut';",
        &[],
    );
    let notice = console.text("#feed-notice");
    assert!(notice.starts_with("The server cut this feed."), "{notice}");
    assert!(notice.contains("--watch-total-buffer-bytes"), "{notice}");
    let button = console.text("#feed-resume-cut");
    let from: u64 = button
        .strip_prefix("Resume from revision ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{button}"));
    assert_eq!(
        console.text("#feed-events li.gap"),
        format!("— cut by the server: nothing received from revision {from} on —")
    );
    assert!(feed_revs(&console, "c/").iter().all(|rev| *rev <= from));
    // The page does not resume by itself.
    assert_eq!(console.text("#feed-toggle"), "Resume");
    // The tree, cut too, read the folder again and shows the keys.
    console.wait(
        "the folder c/ with its 10 keys",
        "return document.querySelector('#tree li.folder[data-prefix=\"c/\"] .count')?.textContent === '10';",
        &[],
    );
    console.screenshot("feed-cut");
}
