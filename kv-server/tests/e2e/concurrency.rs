//! Many clients at once: every acknowledged write is accounted for, each
//! revision is handed out exactly once, and each key ends with the value of
//! its last acknowledged write.

use kv_testkit::Lcg;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{json, Value};

use crate::start;

const THREADS: usize = 16;
const OPS_PER_THREAD: usize = 1000;
const KEYS: u64 = 100;

/// An acknowledged change: the revision it was committed at and the value it
/// left (`None` for a removal).
struct Acked {
    key: String,
    rev: u64,
    val: Option<String>,
}

fn client_thread(base: String, thread: usize) -> Vec<Acked> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut rng = Lcg(thread as u64 + 1);
    let mut acked = Vec::new();
    for i in 0..OPS_PER_THREAD {
        let key = format!("key-{}", rng.draw() % KEYS);
        match rng.draw() % 4 {
            0 | 1 => {
                let val = format!("t{thread}-{i}");
                let body: Value = agent
                    .post(&format!("{base}/set"))
                    .send_json(json!({"key": key, "val": val}))
                    .expect("set")
                    .body_mut()
                    .read_json()
                    .expect("set answer");
                let rev = body["rev"].as_u64().expect("rev");
                acked.push(Acked {
                    key,
                    rev,
                    val: Some(val),
                });
            }
            2 => {
                let body: Value = agent
                    .delete(&format!("{base}/rm"))
                    .force_send_body()
                    .send_json(json!({"key": key}))
                    .expect("rm")
                    .body_mut()
                    .read_json()
                    .expect("rm answer");
                if body["removed"] == json!(true) {
                    let rev = body["rev"].as_u64().expect("rev");
                    acked.push(Acked {
                        key,
                        rev,
                        val: None,
                    });
                }
            }
            _ => {
                let status = agent
                    .get(&format!("{base}/get"))
                    .query("key", &key)
                    .call()
                    .expect("get")
                    .status();
                assert_eq!(status, 200);
            }
        }
    }
    acked
}

#[test]
fn last_acknowledged_write_wins_for_every_key() {
    let server = start(&[]);
    let base = server.base_url();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let base = base.clone();
            std::thread::spawn(move || client_thread(base, t))
        })
        .collect();
    let acked: Vec<Acked> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client thread"))
        .collect();

    // Each revision was given to exactly one change, and all of them were
    // acknowledged: 1..=max with no gap and no duplicate.
    let revs: BTreeSet<u64> = acked.iter().map(|a| a.rev).collect();
    assert_eq!(revs.len(), acked.len(), "a revision was handed out twice");
    let max = *revs.last().expect("some writes");
    assert_eq!(revs, (1..=max).collect::<BTreeSet<u64>>());

    let mut last: HashMap<&str, &Acked> = HashMap::new();
    for a in &acked {
        let slot = last.entry(&a.key).or_insert(a);
        if a.rev > slot.rev {
            *slot = a;
        }
    }
    for k in 0..KEYS {
        let key = format!("key-{k}");
        let body = kv_testkit::http::get(&server.url(&format!("/get?key={key}"))).json();
        let expected = last.get(key.as_str()).and_then(|a| a.val.clone());
        assert_eq!(body["inserted_val"], json!(expected), "{key}");
        if let Some(a) = last.get(key.as_str()).filter(|a| a.val.is_some()) {
            assert_eq!(body["mod_rev"], json!(a.rev), "{key}");
        }
    }
}
