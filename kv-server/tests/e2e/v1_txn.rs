//! Transactions (`POST /v1/txn`), end to end over HTTP against the real
//! binary: they pick a branch, commit at one revision, refuse malformed
//! parts by name, survive a crash, and lose no transfer under concurrency.

use crate::v1_support::*;

/// The results of a transaction's branch.
fn results(answer: &Value) -> &Vec<Value> {
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {answer}"))
}

/// The entry a txn `get` returned, checking `found`.
fn got_entry(result: &Value) -> Option<&Value> {
    let get = &result["get"];
    let found = get["found"]
        .as_bool()
        .unwrap_or_else(|| panic!("not a get: {result}"));
    assert_eq!(found, !get["entry"].is_null(), "{result}");
    found.then_some(&get["entry"])
}

/// Creates `acct` (100) and `gone` in one transaction; its revision.
fn open_account(server: &TestServer) -> u64 {
    let created = txn(
        server,
        &json!({"success": [{"put": {"key": "acct", "value": "100"}},
                            {"put": {"key": "gone", "value": "bye"}}]}),
    );
    assert_eq!(created["succeeded"], json!(true));
    assert_eq!(
        results(&created),
        &vec![
            json!({"put": {"created": true}}),
            json!({"put": {"created": true}})
        ]
    );
    u64_of(&created["rev"], "rev")
}

/// The compare-and-swap of these tests: `acct` from 100 to 90 if it is
/// still the write at `r1`, with a log entry, a delete and gets.
fn pay_ten(r1: u64) -> Value {
    json!({
        "compare": [{"key": "acct", "target": "mod_rev", "op": "==", "value": r1},
                    {"key": "acct", "target": "value", "value": "100"},
                    {"key": "gone", "target": "exists", "value": true},
                    {"key": "nobody", "target": "version", "op": "==", "value": 0}],
        "success": [{"put": {"key": "acct", "value": "90"}},
                    {"put": {"key": "log/1", "value": "paid 10", "content_type": "text/plain"}},
                    {"delete": {"key": "gone"}},
                    {"get": {"key": "acct"}},
                    {"get": {"key": "gone"}}],
        "failure": [{"get": {"key": "acct"}}]
    })
}

#[test]
fn a_compare_that_holds_runs_the_success_branch_at_one_revision() {
    let server = start(&[]);
    let r1 = open_account(&server);
    let cas = pay_ten(r1);
    let events = watch_from(&server, r1 + 1);
    let answer = txn(&server, &cas);
    assert_eq!(answer["succeeded"], json!(true), "{answer}");
    let r2 = u64_of(&answer["rev"], "rev");
    assert_eq!(r2, r1 + 1, "one revision for the whole transaction");
    let res = results(&answer);
    assert_eq!(res.len(), 5, "{answer}");
    assert_eq!(res[0], json!({"put": {"created": false}}));
    assert_eq!(res[1], json!({"put": {"created": true}}));
    assert_eq!(res[2], json!({"delete": {"deleted": true}}));
    let acct = got_entry(&res[3]).expect("acct exists");
    assert_eq!(
        (
            &acct["value"],
            &acct["mod_rev"],
            &acct["version"],
            &acct["create_rev"]
        ),
        (&json!("90"), &json!(r2), &json!(2), &json!(r1)),
        "a get sees the branch's earlier put: {acct}"
    );
    assert!(
        got_entry(&res[4]).is_none(),
        "a get after the delete: {}",
        res[4]
    );

    let now = everything(&server);
    assert_eq!(now.keys().collect::<Vec<_>>(), vec!["acct", "log/1"]);
    for entry in now.values() {
        assert_eq!(entry["mod_rev"], json!(r2), "changed by the txn: {entry}");
    }
    assert_eq!(now["log/1"]["content_type"], json!("text/plain"));
    let stop = marker(&server);
    let got = events_before(&events, stop);
    let mut seen: Vec<(u64, String, String)> = got
        .iter()
        .map(|e| {
            (
                e.data["rev"].as_u64().expect("a revision"),
                e.event.clone(),
                e.data["key"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (r2, "rm".to_owned(), "gone".to_owned()),
            (r2, "set".to_owned(), "acct".to_owned()),
            (r2, "set".to_owned(), "log/1".to_owned()),
        ],
        "the watcher sees the txn's changes, all with its revision"
    );
    assert_revision_ids(&got, r2);
}

#[test]
fn a_compare_that_fails_runs_the_failure_branch() {
    let server = start(&[]);
    let cas = pay_ten(open_account(&server));
    let r2 = u64_of(&txn(&server, &cas)["rev"], "rev");
    // The same compare again fails: the failure branch runs, the success
    // branch does not, and a failure branch of gets changes nothing.
    let before = store_rev(&server);
    let failed = txn(&server, &cas);
    assert_eq!(failed["succeeded"], json!(false), "{failed}");
    assert_eq!(
        failed["rev"],
        json!(before),
        "nothing changed, no new revision"
    );
    let res = results(&failed);
    assert_eq!(res.len(), 1, "{failed}");
    assert_eq!(got_entry(&res[0]).expect("acct")["value"], json!("90"));
    assert_eq!(store_rev(&server), before);
    assert_eq!(everything(&server)["acct"]["mod_rev"], json!(r2));

    // A failure branch that writes commits at a new revision.
    let mut with_write = cas.clone();
    with_write["failure"] = json!([{"put": {"key": "conflicts", "value": "1"}},
                                   {"delete": {"key": "log/1"}}]);
    let failed = txn(&server, &with_write);
    assert_eq!(failed["succeeded"], json!(false));
    assert_eq!(failed["rev"], json!(before + 1));
    assert_eq!(
        results(&failed),
        &vec![
            json!({"put": {"created": true}}),
            json!({"delete": {"deleted": true}})
        ]
    );
    let now = everything(&server);
    assert_eq!(now.keys().collect::<Vec<_>>(), vec!["acct", "conflicts"]);
    assert_eq!(
        now["acct"]["value"],
        json!("90"),
        "the success branch did not run"
    );
}

#[test]
fn every_comparison_operator_and_target_including_a_missing_key() {
    let server = start(&[]);
    let r1 = open_account(&server);
    let r2 = u64_of(&txn(&server, &pay_ten(r1))["rev"], "rev");
    // Comparison operators and targets, a missing key included.
    let mod_rev = r2;
    for (compare, holds) in [
        (
            json!({"key": "acct", "target": "mod_rev", "op": "!=", "value": mod_rev}),
            false,
        ),
        (
            json!({"key": "acct", "target": "mod_rev", "op": "<", "value": mod_rev + 1}),
            true,
        ),
        (
            json!({"key": "acct", "target": "mod_rev", "op": ">", "value": mod_rev}),
            false,
        ),
        (
            json!({"key": "acct", "target": "mod_rev", "op": "<=", "value": mod_rev}),
            true,
        ),
        (
            json!({"key": "acct", "target": "mod_rev", "op": ">=", "value": mod_rev + 1}),
            false,
        ),
        (
            json!({"key": "acct", "target": "create_rev", "value": r1}),
            true,
        ),
        (
            json!({"key": "acct", "target": "version", "op": ">", "value": 1}),
            true,
        ),
        (
            json!({"key": "acct", "target": "value", "op": "<", "value": "91"}),
            true,
        ),
        (
            json!({"key": "acct", "target": "value", "value": "100"}),
            false,
        ),
        (
            json!({"key": "acct", "target": "exists", "value": false}),
            false,
        ),
        (
            json!({"key": "nobody", "target": "exists", "value": false}),
            true,
        ),
        (
            json!({"key": "nobody", "target": "mod_rev", "value": 0}),
            true,
        ),
        (
            json!({"key": "nobody", "target": "create_rev", "op": ">", "value": 0}),
            false,
        ),
        (
            json!({"key": "nobody", "target": "value", "value": ""}),
            false,
        ),
        (
            json!({"key": "nobody", "target": "value", "op": "!=", "value": ""}),
            true,
        ),
    ] {
        let answer = txn(
            &server,
            &json!({"compare": [compare], "success": [{"get": {"key": "acct"}}]}),
        );
        assert_eq!(answer["succeeded"], json!(holds), "{compare}");
        assert_eq!(results(&answer).len(), usize::from(holds), "{compare}");
    }
    let get_missing = txn(&server, &json!({"success": [{"get": {"key": "nobody"}}]}));
    assert_eq!(
        results(&get_missing),
        &vec![json!({"get": {"found": false}})]
    );
}

#[test]
fn a_transaction_that_changes_nothing_keeps_the_revision() {
    let server = start(&[]);
    txn(
        &server,
        &json!({"success": [{"put": {"key": "a", "value": "1"}}]}),
    );
    let rev = store_rev(&server);
    let events = watch_from(&server, rev + 1);
    for body in [
        json!({}),
        json!({"success": [{"get": {"key": "a"}}, {"get": {"key": "missing"}}]}),
        json!({"success": [{"delete": {"key": "missing"}}]}),
        json!({"compare": [{"key": "a", "target": "value", "value": "2"}],
               "success": [{"put": {"key": "a", "value": "3"}}],
               "failure": [{"get": {"key": "a"}}]}),
    ] {
        let answer = txn(&server, &body);
        assert_eq!(answer["rev"], json!(rev), "{body} answered {answer}");
    }
    let deleted_nothing = txn(
        &server,
        &json!({"success": [{"delete": {"key": "missing"}}]}),
    );
    assert_eq!(
        results(&deleted_nothing),
        &vec![json!({"delete": {"deleted": false}})]
    );
    assert_eq!(store_rev(&server), rev);
    // The next change takes the very next revision, and is the first event.
    let stop = marker(&server);
    assert_eq!(stop, rev + 1);
    let got = events_before(&events, stop);
    assert!(got.is_empty(), "no-op transactions made events: {got:?}");
}

#[test]
fn invalid_transactions_are_refused_naming_the_part() {
    let server = start(&[]);
    txn(
        &server,
        &json!({"success": [{"put": {"key": "k", "value": "v"}}]}),
    );
    let rev = store_rev(&server);
    let put = |k: &str| json!({"put": {"key": k, "value": "x"}});
    let cases = [
        // The same key changed twice in a branch.
        (
            json!({"success": [put("a"), put("k"), put("a")]}),
            "success[2]",
        ),
        (
            json!({"success": [put("k"), {"delete": {"key": "k"}}]}),
            "success[1]",
        ),
        (
            json!({"success": [put("a")], "failure": [{"delete": {"key": "b"}}, put("b")]}),
            "failure[1]",
        ),
        // Malformed comparisons.
        (
            json!({"compare": [{"target": "mod_rev", "value": 1}]}),
            "compare[0]",
        ),
        (
            json!({"compare": [{"key": "k", "target": "version", "value": 1},
                               {"key": "k", "target": "mod_rev", "op": "~", "value": 1}]}),
            "compare[1]",
        ),
        (
            json!({"compare": [{"key": "k", "target": "size", "value": 1}]}),
            "compare[0]",
        ),
        (
            json!({"compare": [{"key": "k", "target": "mod_rev", "value": "1"}]}),
            "compare[0]",
        ),
        (
            json!({"compare": [{"key": "k", "target": "exists", "value": 1}]}),
            "compare[0]",
        ),
        (
            json!({"compare": [{"key": "k", "target": "value", "value": "!", "encoding": "base64"}]}),
            "compare[0]",
        ),
        (
            json!({"compare": [{"key": "", "target": "exists", "value": true}]}),
            "compare[0]",
        ),
        // Malformed operations.
        (json!({"success": [{"jump": {"key": "k"}}]}), "success[0]"),
        (
            json!({"success": [put("a"), {"put": {"key": "b"}}]}),
            "success[1]",
        ),
        (
            json!({"success": [{"put": {"key": "b", "value": 5}}]}),
            "success[0]",
        ),
        (
            json!({"success": [{"put": {"key": "b", "value": "x", "encoding": "hex"}}]}),
            "success[0]",
        ),
        (
            json!({"success": [{"put": {"key": "b", "value": "*", "encoding": "base64"}}]}),
            "success[0]",
        ),
        (
            json!({"success": [{"get": {"key": "k"}, "put": {"key": "k", "value": "v"}}]}),
            "success[0]",
        ),
        (
            json!({"success": [{"put": {"key": "", "value": "v"}}]}),
            "success[0]",
        ),
        (json!({"failure": [{"get": {}}]}), "failure[0]"),
        (
            json!({"failure": [put("a"), put("b"), {"delete": {"key": "c", "x": 1}}]}),
            "failure[2]",
        ),
        // The body itself.
        (json!({"success": [], "then": []}), "unknown field"),
        (
            json!({"success": {"put": {"key": "k", "value": "v"}}}),
            "success",
        ),
        (json!([put("a")]), "object"),
    ];
    for (body, names) in cases {
        let message = txn_refused(&server, &body);
        assert!(
            message.contains(names),
            "{body}: {message:?} does not name {names}"
        );
    }
    let reply = request(
        "POST",
        &server.url("/v1/txn"),
        Some("application/json"),
        Some(b"{"),
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        store_rev(&server),
        rev,
        "a refused transaction changed something"
    );
    assert_eq!(
        everything(&server).keys().collect::<Vec<_>>(),
        vec!["k"],
        "a refused transaction wrote something"
    );
}

#[test]
fn the_op_limit_counts_comparisons_and_both_branches() {
    let server = start(&["--max-txn-ops", "4", "--in-memory"]);
    let four = json!({
        "compare": [{"key": "k", "target": "exists", "value": false}],
        "success": [{"put": {"key": "k", "value": "1"}}, {"put": {"key": "j", "value": "1"}}],
        "failure": [{"get": {"key": "k"}}]
    });
    assert_eq!(txn(&server, &four)["succeeded"], json!(true));
    let rev = store_rev(&server);
    for (branch, extra) in [
        (
            "compare",
            json!({"key": "j", "target": "exists", "value": true}),
        ),
        ("success", json!({"put": {"key": "x", "value": "1"}})),
        ("failure", json!({"put": {"key": "x", "value": "1"}})),
    ] {
        let mut five = four.clone();
        five[branch].as_array_mut().expect("an array").push(extra);
        let message = txn_refused(&server, &five);
        assert!(message.contains("over the limit of 4"), "{message}");
    }
    assert_eq!(store_rev(&server), rev);
    assert!(!everything(&server).contains_key("x"));
}

#[test]
fn base64_values_in_puts_and_comparisons() {
    let server = start(&[]);
    let bytes = [0xff_u8, 0x00, 0x01, 0xc3];
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let put = txn(
        &server,
        &json!({"success": [{"put": {"key": "bin", "value": b64, "encoding": "base64"}},
                            {"put": {"key": "txt", "value": "aGk=", "encoding": "utf8"}},
                            {"get": {"key": "bin"}}]}),
    );
    let entry = got_entry(&results(&put)[2]).expect("bin");
    assert_eq!(
        (&entry["value"], &entry["encoding"]),
        (&json!(b64), &json!("base64"))
    );
    // Stored as the bytes: the key route and the listing return them.
    let read = get(&server.url("/v1/kv/bin?format=json"));
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(value_bytes(&read.json()), bytes);
    let listed = everything(&server);
    assert_eq!(value_bytes(&listed["bin"]), bytes);
    assert_eq!(
        listed["txt"]["value"],
        json!("aGk="),
        "utf8 is taken as text"
    );

    let compare = |value: &str, encoding: Option<&str>| {
        let mut c = json!({"key": "bin", "target": "value", "value": value});
        if let Some(encoding) = encoding {
            c["encoding"] = json!(encoding);
        }
        txn(&server, &json!({"compare": [c]}))["succeeded"].clone()
    };
    assert_eq!(compare(&b64, Some("base64")), json!(true));
    assert_eq!(
        compare(&b64, None),
        json!(false),
        "the base64 text is not the value"
    );
    assert_eq!(
        compare("/wAB", Some("base64")),
        json!(false),
        "a prefix of the value"
    );
    let swapped = txn(
        &server,
        &json!({"compare": [{"key": "bin", "target": "value", "value": b64, "encoding": "base64"}],
                "success": [{"put": {"key": "bin", "value": "AAA=", "encoding": "base64"}}]}),
    );
    assert_eq!(swapped["succeeded"], json!(true));
    assert_eq!(value_bytes(&everything(&server)["bin"]), [0, 0]);
}

#[test]
fn a_transaction_survives_a_crash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = start_in(dir.path(), &[]);
    put_all(
        &server,
        &[
            ("t/a".into(), "1".into()),
            ("t/b".into(), "2".into()),
            ("t/c".into(), "3".into()),
        ],
    );
    let answer = txn(
        &server,
        &json!({"compare": [{"key": "t/a", "target": "value", "value": "1"}],
                "success": [{"put": {"key": "t/a", "value": "10"}},
                            {"delete": {"key": "t/b"}},
                            {"put": {"key": "t/d", "value": "/w==", "encoding": "base64"}}]}),
    );
    assert_eq!(answer["succeeded"], json!(true));
    let rev = u64_of(&answer["rev"], "rev");
    let check = |server: &TestServer, when: &str| {
        let now = everything(server);
        assert_eq!(
            now.keys().collect::<Vec<_>>(),
            vec!["t/a", "t/c", "t/d"],
            "{when}"
        );
        assert_eq!(now["t/a"]["value"], json!("10"), "{when}");
        assert_eq!(now["t/a"]["mod_rev"], json!(rev), "{when}");
        assert_eq!(now["t/a"]["version"], json!(2), "{when}");
        assert_eq!(now["t/d"]["mod_rev"], json!(rev), "{when}");
        assert_eq!(value_bytes(&now["t/d"]), [0xff], "{when}");
        assert_eq!(now["t/c"]["mod_rev"], json!(rev - 1), "{when}");
        assert_eq!(store_rev(server), rev, "{when}");
    };
    check(&server, "before the crash");
    server.kill();
    let server = start_in(dir.path(), &[]);
    check(&server, "after a kill and a restart");
    assert_eq!(marker(&server), rev + 1);
}

/// One thread's transfers: `count` times, moves a random amount between two
/// of the accounts with a read, then a compare-and-swap on both `mod_rev`s,
/// retrying when it fails. Returns (its committed revisions, transfers per
/// account touched, failed attempts).
fn transfers(client: &KvClient, seed: u64, count: usize) -> (Vec<u64>, [u64; 4], u64) {
    let mut rng = Lcg(seed);
    let deadline = Instant::now() + DEADLINE;
    let (mut revs, mut touched, mut failed) = (Vec::new(), [0u64; 4], 0u64);
    for _ in 0..count {
        let from = (rng.draw() % 4) as usize;
        let to = (from + 1 + (rng.draw() % 3) as usize) % 4;
        let amount = (rng.draw() % 50 + 1) as i64;
        let (a, b) = (format!("acct/{from}"), format!("acct/{to}"));
        loop {
            assert!(
                Instant::now() < deadline,
                "transfers did not finish in time"
            );
            let read = client
                .txn(&json!({"success": [{"get": {"key": a}}, {"get": {"key": b}}]}))
                .expect("read both");
            let state: Vec<(i64, u64)> = read
                .results
                .iter()
                .map(|r| {
                    let entry = r
                        .get
                        .as_ref()
                        .and_then(|g| g.entry.as_ref())
                        .expect("an account");
                    (entry.value.parse().expect("a balance"), entry.mod_rev)
                })
                .collect();
            let answer = client
                .txn(&json!({
                    "compare": [{"key": a, "target": "mod_rev", "value": state[0].1},
                                {"key": b, "target": "mod_rev", "value": state[1].1}],
                    "success": [{"put": {"key": a, "value": (state[0].0 - amount).to_string()}},
                                {"put": {"key": b, "value": (state[1].0 + amount).to_string()}}]
                }))
                .expect("transfer");
            if answer.succeeded {
                assert_eq!(answer.results.len(), 2);
                revs.push(answer.rev);
                touched[from] += 1;
                touched[to] += 1;
                break;
            }
            assert!(answer.results.is_empty());
            failed += 1;
        }
    }
    (revs, touched, failed)
}

#[test]
fn concurrent_transfers_lose_nothing() {
    let server = start(&["--fsync", "no"]);
    let accounts: Vec<(String, String)> = (0..4)
        .map(|i| (format!("acct/{i}"), "1000".to_owned()))
        .collect();
    let start_rev = put_all(&server, &accounts);
    let client = client_of(&server);
    let outcomes: Vec<(Vec<u64>, [u64; 4], u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let client = client.clone();
                scope.spawn(move || transfers(&client, 100 + t, 50))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a transfer thread"))
            .collect()
    });
    let revs: BTreeSet<u64> = outcomes.iter().flat_map(|r| r.0.iter().copied()).collect();
    let committed: usize = outcomes.iter().map(|r| r.0.len()).sum();
    assert_eq!(committed, 400, "8 threads times 50 transfers");
    assert_eq!(revs.len(), 400, "each transfer at a revision of its own");
    let failed: u64 = outcomes.iter().map(|r| r.2).sum();
    eprintln!("400 transfers, {failed} failed attempts retried");
    // Only the transfers changed anything: exactly 400 more revisions.
    assert_eq!(store_rev(&server), start_rev + 400);
    let now = everything(&server);
    let total: i64 = now
        .values()
        .map(|e| {
            e["value"]
                .as_str()
                .expect("value")
                .parse::<i64>()
                .expect("a balance")
        })
        .sum();
    assert_eq!(total, 4000, "money was created or lost: {now:?}");
    for i in 0..4 {
        let touched: u64 = outcomes.iter().map(|r| r.1[i]).sum();
        assert_eq!(
            now[&format!("acct/{i}")]["version"],
            json!(1 + touched),
            "acct/{i} was written by every transfer that touched it, once"
        );
    }
}
