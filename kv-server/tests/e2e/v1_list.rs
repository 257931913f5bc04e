//! Listing (`GET /v1/kv?prefix=`) and delete by prefix
//! (`DELETE /v1/kv?prefix=`), end to end over HTTP against the real binary:
//! pages cover every key exactly once and in order (10,000 keys, a byte
//! cap, writes going on meanwhile, a delimiter); a prefix delete removes
//! exactly its keys at one revision that watchers see and a restart keeps.

use crate::v1_support::*;

#[test]
fn pages_cover_ten_thousand_keys_exactly_once_in_order() {
    let server = start(&["--fsync", "no"]);
    let pairs: Vec<(String, String)> = (0..10_000)
        .map(|i| (format!("page/{i:05}"), format!("v{i}")))
        .collect();
    // Loaded by 4 threads, in transactions of 128 puts.
    std::thread::scope(|scope| {
        for part in pairs.chunks(2_500) {
            let server = &server;
            scope.spawn(move || put_all(server, part));
        }
    });
    // Neighbours the prefix must leave out, on both sides of its range.
    let outside = ["page", "page.x", "page0", "pagd/1", "pagf", "pa"];
    let neighbours: Vec<(String, String)> = outside
        .iter()
        .map(|k| ((*k).to_owned(), "out".to_owned()))
        .collect();
    put_all(&server, &neighbours);
    let expected: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();

    // Pages of 1000: ten full pages, the tenth with next null.
    let pages = walk(&server, "prefix=page%2F", 1000, |_| {});
    assert_eq!(pages.len(), 10, "10,000 keys in pages of 1000");
    assert!(pages.iter().all(|p| p.entries.len() == 1000));
    assert_eq!(all_keys(&pages), expected, "every key once, in order");
    for (entry, (key, value)) in pages.iter().flat_map(|p| &p.entries).zip(&pairs) {
        assert_eq!(key_of(entry), key);
        assert_eq!(entry["value"], json!(value), "{entry}");
        assert_eq!(entry["encoding"], json!("utf8"), "{entry}");
        assert_eq!(entry["version"], json!(1), "{entry}");
        assert_eq!(entry["create_rev"], entry["mod_rev"], "{entry}");
    }

    // No limit: the default of 100.
    let default = list_page(&server, "prefix=page%2F");
    assert_eq!(default.entries.len(), 100);
    assert_eq!(default.next.as_deref(), Some("page/00099"));

    // A small limit on a subset: 100 keys in pages of 7.
    let subset = walk(&server, "prefix=page%2F001", 7, |_| {});
    let sizes: Vec<usize> = subset.iter().map(|p| p.entries.len()).collect();
    let mut expected_sizes = vec![7; 14];
    expected_sizes.push(2);
    assert_eq!(sizes, expected_sizes);
    assert_eq!(all_keys(&subset), expected[100..200].to_vec());

    // A cursor before the prefix starts at the prefix; one past the end
    // gives an empty last page.
    let before = list_page(&server, "prefix=page%2F&limit=2&start_after=a");
    assert_eq!(before.keys(), vec!["page/00000", "page/00001"]);
    let past = list_page(&server, "prefix=page%2F&limit=2&start_after=page%2F99999");
    assert!(past.entries.is_empty() && past.next.is_none());

    // The whole store: the prefix's keys plus the neighbours, in order.
    let mut every: Vec<String> = expected.clone();
    every.extend(outside.iter().map(|k| (*k).to_owned()));
    every.sort();
    assert_eq!(all_keys(&walk(&server, "prefix=", 1000, |_| {})), every);

    // Limits outside 1..=1000 are refused.
    for bad in ["0", "1001", "-1", "many"] {
        let reply = get(&server.url(&format!("/v1/kv?prefix=page%2F&limit={bad}")));
        assert_eq!(reply.status, 400, "limit={bad}: {}", reply.body);
        assert_eq!(reply.error_code(), "bad_request");
    }
    let reply = get(&server.url("/v1/kv?prefix=page%2F&colour=red"));
    assert_eq!(reply.status, 400, "an unknown parameter: {}", reply.body);

    // keys_only leaves the values out but keeps the metadata.
    let keys_only = list_page(&server, "prefix=page%2F&limit=5&keys_only=true");
    assert_eq!(keys_only.keys(), expected[..5].to_vec());
    for entry in &keys_only.entries {
        let fields = entry.as_object().expect("an object");
        assert!(!fields.contains_key("value"), "{entry}");
        assert!(!fields.contains_key("encoding"), "{entry}");
        assert!(entry["mod_rev"].as_u64().is_some_and(|r| r > 0), "{entry}");
    }

    // A transaction over the op limit is refused whole.
    let many: Vec<Value> = (0..=MAX_TXN_OPS)
        .map(|i| json!({"put": {"key": format!("over/{i}"), "value": "x"}}))
        .collect();
    let message = txn_refused(&server, &json!({ "success": many }));
    assert!(message.contains("over the limit of 128"), "{message}");
    assert!(list_page(&server, "prefix=over%2F").entries.is_empty());
}

#[test]
fn values_that_are_not_utf8_list_as_base64() {
    let server = start(&[]);
    let binary = [0xff_u8, 0xfe, 0x00, 0x01, 0x80];
    let reply = request("PUT", &server.url("/v1/kv/bin/raw"), None, Some(&binary));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let reply = request(
        "PUT",
        &server.url("/v1/kv/bin/text"),
        None,
        Some("héllo".as_bytes()),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let page = list_page(&server, "prefix=bin%2F");
    assert_eq!(page.keys(), vec!["bin/raw", "bin/text"]);
    let raw = &page.entries[0];
    assert_eq!(raw["encoding"], json!("base64"), "{raw}");
    assert_eq!(
        raw["value"],
        json!(base64::engine::general_purpose::STANDARD.encode(binary))
    );
    assert_eq!(value_bytes(raw), binary);
    assert_eq!(page.entries[1]["encoding"], json!("utf8"));
    assert_eq!(page.entries[1]["value"], json!("héllo"));
}

#[test]
fn the_byte_cap_shortens_pages_and_they_still_cover_everything() {
    let server = start(&["--list-max-bytes", "1000", "--fsync", "no"]);
    let value = "x".repeat(100);
    let mut pairs: Vec<(String, String)> = (0..500)
        .map(|i| (format!("cap/{i:04}"), value.clone()))
        .collect();
    // One entry alone over the cap still makes a page.
    pairs.push(("cap/0100big".to_owned(), "y".repeat(2000)));
    pairs.sort();
    put_all(&server, &pairs);
    let expected: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();

    let pages = walk(&server, "prefix=cap%2F", 1000, |_| {});
    assert_eq!(all_keys(&pages), expected, "every key once, in order");
    for (i, page) in pages.iter().enumerate() {
        assert!(
            page.bytes() <= 1000 || page.entries.len() == 1,
            "page {i} holds {} bytes in {} entries",
            page.bytes(),
            page.entries.len()
        );
        // Not cut shorter than the cap asks: the next page's first entry
        // would not have fitted.
        if let Some(following) = pages.get(i + 1) {
            let first = entry_bytes(&following.entries[0]);
            assert!(
                page.bytes() + first > 1000,
                "page {i} stopped at {} bytes though {first} more fit",
                page.bytes()
            );
        }
    }
    // 108-byte entries (8-byte keys, 100-byte values): 9 to a page.
    assert_eq!(pages[0].entries.len(), 9);
    let big = pages
        .iter()
        .find(|p| p.keys().contains(&"cap/0100big".to_owned()))
        .expect("the big entry is listed");
    assert_eq!(big.entries.len(), 1, "the big entry has a page of its own");
    assert_eq!(value_bytes(&big.entries[0]).len(), 2000);
    let nines = pages.iter().filter(|p| p.entries.len() == 9).count();
    assert!(nines >= 50, "only {nines} pages of 9 among {}", pages.len());

    // A smaller limit still wins.
    let small = walk(&server, "prefix=cap%2F02", 4, |_| {});
    assert!(small.iter().all(|p| p.entries.len() == 4));
    let under: Vec<String> = expected
        .iter()
        .filter(|k| k.starts_with("cap/02"))
        .cloned()
        .collect();
    assert_eq!(all_keys(&small), under);
}

#[test]
fn pages_stay_exact_while_writes_go_on() {
    let server = start(&["--fsync", "no"]);
    let before: Vec<String> = (0..3000).map(|i| format!("live/{i:05}")).collect();
    let pairs: Vec<(String, String)> = before.iter().map(|k| (k.clone(), "0".into())).collect();
    put_all(&server, &pairs);
    // Keys ending in 9 may be deleted during the listing; the others must
    // all be listed, exactly once.
    let doomed: Vec<String> = before
        .iter()
        .filter(|k| k.ends_with('9'))
        .cloned()
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicU64::new(0));
    let deleted = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let created = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let writer = {
        let client = client_of(&server);
        let (stop, committed) = (Arc::clone(&stop), Arc::clone(&committed));
        let (deleted, created) = (Arc::clone(&deleted), Arc::clone(&created));
        std::thread::spawn(move || {
            let mut rng = Lcg(7);
            let mut last: BTreeMap<String, String> = BTreeMap::new();
            let mut doomed = doomed.into_iter();
            let mut n = 0u64;
            while !stop.load(Ordering::Acquire) {
                n += 1;
                // Modify a key that stays (not ending in 9).
                let kept = format!("live/{:04}{}", rng.draw() % 300, rng.draw() % 9);
                let mut ops = vec![
                    json!({"put": {"key": format!("other/{n:06}"), "value": n.to_string()}}),
                    json!({"put": {"key": kept, "value": n.to_string()}}),
                ];
                last.insert(kept, n.to_string());
                if n.is_multiple_of(3) {
                    if let Some(gone) = doomed.next() {
                        deleted.lock().expect("lock").insert(gone.clone());
                        last.insert(gone.clone(), String::new());
                        ops.push(json!({"delete": {"key": gone}}));
                    }
                    let new = format!("live/{:05}.new{n}", rng.draw() % 3000);
                    created.lock().expect("lock").insert(new.clone());
                    last.insert(new.clone(), n.to_string());
                    ops.push(json!({"put": {"key": new, "value": n.to_string()}}));
                }
                let answer = client.txn(&json!({ "success": ops })).expect("writer txn");
                assert!(answer.succeeded);
                committed.fetch_add(1, Ordering::AcqRel);
            }
            last
        })
    };

    // Page through while the writer runs, letting it commit between pages.
    let mut seen_commits = committed.load(Ordering::Acquire);
    let pages = walk(&server, "prefix=live%2F", 25, |_| {
        wait_until("a write between pages", || {
            committed.load(Ordering::Acquire) > seen_commits
        });
        seen_commits = committed.load(Ordering::Acquire);
    });
    stop.store(true, Ordering::Release);
    let last = writer.join().expect("the writer");
    let deleted = deleted.lock().expect("lock").clone();
    let created = created.lock().expect("lock").clone();
    assert!(pages.len() >= 110, "{} pages", pages.len());
    assert!(deleted.len() >= 30, "only {} deletions ran", deleted.len());

    let listed = all_keys(&pages);
    for pair in listed.windows(2) {
        assert!(pair[0] < pair[1], "{pair:?}: out of order or twice");
    }
    let listed_set: BTreeSet<&String> = listed.iter().collect();
    for key in &before {
        if !deleted.contains(key) {
            assert!(
                listed_set.contains(key),
                "{key} existed throughout but was not listed"
            );
        }
    }
    for key in &listed {
        assert!(
            before.contains(key) || created.contains(key),
            "{key} was listed but never written under live/"
        );
    }
    for entry in pages.iter().flat_map(|p| &p.entries) {
        let value = entry["value"].as_str().expect("a value");
        assert!(value == "0" || value.parse::<u64>().is_ok(), "{entry}");
    }

    // Once the writes stop, a listing is exactly the final state.
    let mut expected: BTreeMap<String, String> =
        before.iter().map(|k| (k.clone(), "0".to_owned())).collect();
    for (key, value) in last {
        if value.is_empty() {
            expected.remove(&key);
        } else {
            expected.insert(key, value);
        }
    }
    let now: BTreeMap<String, String> = walk(&server, "prefix=live%2F", 1000, |_| {})
        .into_iter()
        .flat_map(|p| p.entries)
        .map(|e| {
            (
                key_of(&e).to_owned(),
                e["value"].as_str().expect("value").to_owned(),
            )
        })
        .collect();
    assert!(
        now == expected,
        "the settled listing differs from what was written"
    );
}

#[test]
fn a_delimiter_lists_one_level_and_its_cursor_skips_a_common_prefix() {
    let server = start(&["--fsync", "no"]);
    let mut keys: Vec<String> = vec![
        "d".into(),
        "d0/x".into(),
        "e/x".into(),
        "c".into(),
        "d/b".into(),
        "d/b/3/x".into(),
    ];
    let mut entries = BTreeSet::new();
    let mut prefixes = BTreeSet::new();
    for (i, c) in ('a'..='t').enumerate() {
        if i % 2 == 0 {
            keys.push(format!("d/{c}"));
            entries.insert(format!("d/{c}"));
        } else {
            for j in 0..30 {
                keys.push(format!("d/{c}/{j:02}"));
                keys.push(format!("d/{c}/{j:02}/deep/er"));
            }
            prefixes.insert(format!("d/{c}/"));
        }
    }
    entries.insert("d/b".into());
    let pairs: Vec<(String, String)> = keys.iter().map(|k| (k.clone(), format!("={k}"))).collect();
    put_all(&server, &pairs);

    // One level under d/, in one page.
    let page = list_page(&server, "prefix=d%2F&delimiter=%2F&limit=1000");
    assert_eq!(
        page.keys().into_iter().collect::<BTreeSet<_>>(),
        entries,
        "the entries of the level"
    );
    assert_eq!(
        page.prefixes.iter().cloned().collect::<BTreeSet<_>>(),
        prefixes,
        "the common prefixes"
    );
    assert_eq!(page.prefixes.len(), prefixes.len(), "each prefix once");
    assert!(page.next.is_none());
    for entry in &page.entries {
        assert_eq!(entry["value"], json!(format!("={}", key_of(entry))));
    }

    // Paged three items at a time, a common prefix as the cursor skips the
    // keys under it: the same items, each once.
    let mut expected: Vec<String> = entries.iter().chain(&prefixes).cloned().collect();
    expected.sort();
    let pages = walk(&server, "prefix=d%2F&delimiter=%2F", 3, |_| {});
    let got: Vec<String> = pages.iter().flat_map(Page::names).collect();
    assert_eq!(got, expected);
    assert!(pages.iter().rev().skip(1).all(|p| p.names().len() == 3));
    assert!(
        pages
            .iter()
            .any(|p| p.next.as_deref().is_some_and(|n| n.ends_with('/'))),
        "some page ends on a common prefix"
    );
    let after = list_page(
        &server,
        "prefix=d%2F&delimiter=%2F&limit=2&start_after=d%2Fd%2F",
    );
    assert_eq!(after.names(), vec!["d/e", "d/f/"]);

    // One level deeper; and the top level.
    let deeper = list_page(&server, "prefix=d%2Fb%2F&delimiter=%2F&limit=1000");
    let mut under_b: Vec<String> = (0..30).map(|j| format!("d/b/{j:02}")).collect();
    under_b.sort();
    assert_eq!(deeper.keys(), under_b);
    let mut deeper_prefixes: Vec<String> = (0..30).map(|j| format!("d/b/{j:02}/")).collect();
    deeper_prefixes.push("d/b/3/".into());
    deeper_prefixes.sort();
    assert_eq!(deeper.prefixes, deeper_prefixes);
    let top = list_page(&server, "prefix=&delimiter=%2F&limit=1000");
    assert_eq!(top.keys(), vec!["c", "d"]);
    assert_eq!(top.prefixes, vec!["d/", "d0/", "e/"]);

    // A delimiter is one character.
    let reply = get(&server.url("/v1/kv?prefix=d%2F&delimiter=%2F%2F"));
    assert_eq!(reply.status, 400, "{}", reply.body);
}

// ------------------------------------------------------- delete by prefix

#[test]
fn delete_by_prefix_removes_exactly_its_keys_at_one_revision() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = start_in(dir.path(), &[]);
    let mut pairs: Vec<(String, String)> = (0..60)
        .map(|i| (format!("p/{i:02}"), format!("v{i}")))
        .collect();
    pairs.push(("p/sub/deep".into(), "d".into()));
    let doomed: BTreeSet<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    for other in ["p", "p2", "p2/x", "p.x", "q/1", "q/2", "o/z"] {
        pairs.push((other.into(), format!("kept {other}")));
    }
    put_all(&server, &pairs);
    let before = store_rev(&server);

    let (status, body) = delete_prefix(&server, "prefix=p%2F");
    assert_eq!(status, 200, "{body}");
    let rev = before + 1;
    assert_eq!(body, json!({"deleted": doomed.len(), "rev": rev}));

    // The watcher sees one rm per removed key, all at that revision.
    let events = watch_from(&server, rev);
    let stop = marker(&server);
    let got = events_before(&events, stop);
    assert_eq!(got.len(), doomed.len(), "{got:?}");
    let mut removed = BTreeSet::new();
    assert_revision_ids(&got, rev);
    for event in &got {
        assert_eq!(event.event, "rm", "{event:?}");
        assert_eq!(event.data["rev"], json!(rev), "{event:?}");
        assert_eq!(event.data["op"], json!("rm"), "{event:?}");
        removed.insert(event.data["key"].as_str().expect("a key").to_owned());
    }
    assert_eq!(removed, doomed, "one rm per removed key");

    let kept: BTreeMap<String, String> = pairs
        .iter()
        .filter(|(k, _)| !doomed.contains(k))
        .cloned()
        .chain([("~marker".to_owned(), "m".to_owned())])
        .collect();
    let check_kept = |server: &TestServer, when: &str| {
        let now = everything(server);
        let now: BTreeMap<String, String> = now
            .iter()
            .map(|(k, e)| (k.clone(), e["value"].as_str().expect("value").to_owned()))
            .collect();
        assert!(
            now == kept,
            "{when}: the store holds {now:?}, expected {kept:?}"
        );
    };
    check_kept(&server, "after the delete");

    // Nothing under the prefix: deleted 0 at the current revision.
    let current = store_rev(&server);
    let (status, body) = delete_prefix(&server, "prefix=p%2F");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"deleted": 0, "rev": current}));
    assert_eq!(store_rev(&server), current);

    // An empty or missing prefix needs all=true.
    for query in ["prefix=", "", "prefix=&all=false", "all=false"] {
        let (status, body) = delete_prefix(&server, query);
        assert_eq!(status, 400, "DELETE /v1/kv?{query}: {body}");
        assert_eq!(body["error"]["code"], json!("bad_request"), "{body}");
    }
    assert_eq!(store_rev(&server), current);
    check_kept(&server, "after the refused deletes");

    // A crash keeps the removals.
    server.kill();
    let mut server = start_in(dir.path(), &[]);
    check_kept(&server, "after a restart");
    assert_eq!(store_rev(&server), current);

    // all=true removes everything, and that survives a restart too.
    let (status, body) = delete_prefix(&server, "all=true");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"deleted": kept.len(), "rev": current + 1}));
    assert!(everything(&server).is_empty());
    server.kill();
    let server = start_in(dir.path(), &[]);
    assert!(everything(&server).is_empty(), "removed keys came back");
    assert_eq!(store_rev(&server), current + 1);
    assert_eq!(
        marker(&server),
        current + 2,
        "revisions go on after a restart"
    );
}

#[test]
fn a_prefix_delete_is_atomic_among_concurrent_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = start_in(dir.path(), &["--fsync", "no"]);
    let written = Arc::new(AtomicU64::new(0));
    let (puts, deletes) = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let (client, written) = (client_of(&server), Arc::clone(&written));
                scope.spawn(move || {
                    (0..300)
                        .map(|i| {
                            let key = format!("w/{t}/{i:03}");
                            let rev = client.set(&key, "v").expect("set").rev;
                            written.fetch_add(1, Ordering::AcqRel);
                            (key, rev)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let client = client_of(&server);
        let mut deletes = Vec::new();
        for quarter in 1..=3 {
            wait_until("writes before a delete", || {
                written.load(Ordering::Acquire) >= quarter * 300
            });
            let answer = client.delete_prefix("w/", false).expect("delete w/");
            deletes.push((answer.rev, answer.deleted));
        }
        let puts: Vec<(String, u64)> = writers
            .into_iter()
            .flat_map(|w| w.join().expect("a writer"))
            .collect();
        (puts, deletes)
    });
    // Each delete removed exactly the keys written since the one before.
    let mut after = 0;
    for &(rev, deleted) in &deletes {
        let between = puts
            .iter()
            .filter(|(_, r)| (after + 1..rev).contains(r))
            .count();
        assert!(
            puts.iter().all(|(_, r)| *r != rev),
            "a put shares the delete's revision {rev}"
        );
        assert_eq!(deleted, between as u64, "the delete at {rev}");
        after = rev;
    }
    assert!(deletes.iter().all(|d| d.1 > 0), "{deletes:?}");
    // What is left: exactly the keys written after the last delete.
    let expected: BTreeMap<String, u64> = puts
        .iter()
        .filter(|(_, r)| *r > after)
        .map(|(k, r)| (k.clone(), *r))
        .collect();
    let check = |server: &TestServer, when: &str| {
        let now: BTreeMap<String, u64> = everything(server)
            .into_iter()
            .map(|(k, e)| (k, u64_of(&e["mod_rev"], "mod_rev")))
            .collect();
        assert!(
            now == expected,
            "{when}: {} keys left, expected {}",
            now.len(),
            expected.len()
        );
    };
    check(&server, "after the writes");
    server.kill();
    let server = start_in(dir.path(), &[]);
    check(&server, "after a kill and a restart");
}

// ----------------------------------------------------------- transactions
