//! Hand-made histories with a known answer. Times are plain numbers.

use super::*;

/// A completed operation on key `k`.
fn done(client: usize, input: Input, output: Output, call: u64, ret: u64) -> Operation {
    Operation {
        client,
        key: "k".to_owned(),
        input,
        output: Some(output),
        call,
        ret: Some(ret),
    }
}

/// An operation on key `k` whose outcome is unknown.
fn unknown(client: usize, input: Input, call: u64) -> Operation {
    Operation {
        client,
        key: "k".to_owned(),
        input,
        output: None,
        call,
        ret: None,
    }
}

fn write(value: &str) -> Input {
    Input::Write(value.to_owned())
}

fn cas(expected: Option<&str>, new: &str) -> Input {
    Input::Cas {
        expected: expected.map(str::to_owned),
        new: new.to_owned(),
    }
}

fn seen(value: Option<&str>) -> Output {
    Output::Read(value.map(str::to_owned))
}

/// Asserts that `history` is illegal, and that the explanation names the
/// operation that got stuck.
fn assert_illegal(history: &[Operation], stuck: usize) {
    match check(history) {
        CheckResult::Illegal {
            key,
            stuck: found,
            explanation,
            ..
        } => {
            assert_eq!(key, "k");
            assert_eq!(found, stuck, "{explanation}");
            assert!(explanation.contains(&format!("#{stuck} ")), "{explanation}");
        }
        other => panic!("expected Illegal, got {other:?}"),
    }
}

fn assert_ok(history: &[Operation]) {
    let result = check(history);
    assert!(result.is_ok(), "{result}");
}

#[test]
fn an_empty_history_is_linearizable() {
    assert_ok(&[]);
}

#[test]
fn a_sequential_history_that_follows_the_model_is_linearizable() {
    assert_ok(&[
        done(0, Input::Read, seen(None), 0, 1),
        done(0, write("a"), Output::Ok, 2, 3),
        done(1, Input::Read, seen(Some("a")), 4, 5),
        done(1, cas(Some("a"), "b"), Output::Cas(true), 6, 7),
        done(0, cas(Some("a"), "c"), Output::Cas(false), 8, 9),
        done(0, cas(None, "c"), Output::Cas(false), 10, 11),
        done(1, Input::Delete, Output::Ok, 12, 13),
        done(1, cas(None, "d"), Output::Cas(true), 14, 15),
        done(0, Input::Read, seen(Some("d")), 16, 17),
        done(0, Input::Delete, Output::Ok, 18, 19),
        done(0, Input::Delete, Output::Ok, 20, 21),
        done(0, Input::Read, seen(None), 22, 23),
    ]);
}

#[test]
fn a_read_overlapping_a_write_may_see_either_value() {
    for value in ["a", "b"] {
        assert_ok(&[
            done(0, write("a"), Output::Ok, 0, 10),
            done(0, write("b"), Output::Ok, 20, 40),
            done(1, Input::Read, seen(Some(value)), 25, 35),
        ]);
    }
}

#[test]
fn operations_listed_out_of_time_order_are_sorted() {
    assert_ok(&[
        done(1, Input::Read, seen(Some("b")), 30, 40),
        done(0, write("b"), Output::Ok, 20, 25),
        done(0, write("a"), Output::Ok, 0, 10),
    ]);
}

#[test]
fn a_read_of_a_value_never_written_is_illegal() {
    assert_illegal(
        &[
            done(0, write("a"), Output::Ok, 0, 10),
            done(1, Input::Read, seen(Some("z")), 5, 15),
        ],
        1,
    );
}

#[test]
fn a_stale_read_after_a_completed_write_is_illegal() {
    assert_illegal(
        &[
            done(0, write("a"), Output::Ok, 0, 10),
            done(0, write("b"), Output::Ok, 20, 30),
            done(1, Input::Read, seen(Some("a")), 40, 50),
        ],
        2,
    );
}

#[test]
fn two_successful_cas_from_the_same_value_are_illegal() {
    let history = [
        done(0, write("a"), Output::Ok, 0, 5),
        done(1, cas(Some("a"), "b"), Output::Cas(true), 10, 20),
        done(2, cas(Some("a"), "c"), Output::Cas(true), 15, 25),
    ];
    let CheckResult::Illegal { stuck, .. } = check(&history) else {
        panic!("expected Illegal");
    };
    assert!(stuck == 1 || stuck == 2);
}

#[test]
fn cas_on_absent_succeeds_only_while_absent() {
    assert_ok(&[
        done(0, cas(None, "a"), Output::Cas(true), 0, 5),
        done(1, cas(None, "b"), Output::Cas(false), 10, 15),
    ]);
    assert_illegal(
        &[
            done(0, write("a"), Output::Ok, 0, 5),
            done(1, cas(None, "b"), Output::Cas(true), 10, 15),
        ],
        1,
    );
}

#[test]
fn a_value_seen_cannot_be_unwritten() {
    // Once a read saw "b", a later read cannot see "a" again.
    assert_illegal(
        &[
            done(0, write("a"), Output::Ok, 0, 10),
            done(0, write("b"), Output::Ok, 20, 100),
            done(1, Input::Read, seen(Some("b")), 30, 40),
            done(1, Input::Read, seen(Some("a")), 50, 60),
        ],
        3,
    );
}

#[test]
fn a_read_after_a_completed_delete_sees_nothing() {
    let history = |value| {
        [
            done(0, write("a"), Output::Ok, 0, 10),
            done(0, Input::Delete, Output::Ok, 20, 30),
            done(1, Input::Read, seen(value), 40, 50),
        ]
    };
    assert_ok(&history(None));
    assert_illegal(&history(Some("a")), 2);
}

#[test]
fn a_write_with_an_unknown_outcome_may_or_may_not_have_happened() {
    for value in ["a", "b"] {
        assert_ok(&[
            done(0, write("a"), Output::Ok, 0, 10),
            unknown(1, write("b"), 20),
            done(0, Input::Read, seen(Some(value)), 30, 40),
            done(0, Input::Read, seen(Some(value)), 50, 60),
        ]);
    }
    // It may also take effect long after: between two reads.
    assert_ok(&[
        done(0, write("a"), Output::Ok, 0, 10),
        unknown(1, write("b"), 20),
        done(0, Input::Read, seen(Some("a")), 1_000, 1_010),
        done(0, Input::Read, seen(Some("b")), 2_000, 2_010),
    ]);
}

#[test]
fn an_unknown_write_that_was_seen_cannot_be_undone() {
    assert_illegal(
        &[
            done(0, write("a"), Output::Ok, 0, 10),
            unknown(1, write("b"), 20),
            done(0, Input::Read, seen(Some("b")), 30, 40),
            done(0, Input::Read, seen(Some("a")), 50, 60),
        ],
        3,
    );
}

#[test]
fn an_unknown_write_cannot_take_effect_before_its_call() {
    assert_illegal(
        &[
            done(0, Input::Read, seen(Some("b")), 0, 10),
            unknown(1, write("b"), 20),
        ],
        0,
    );
}

#[test]
fn unknown_cas_and_delete_may_or_may_not_have_happened() {
    for value in [None, Some("a")] {
        assert_ok(&[
            unknown(0, cas(None, "a"), 0),
            done(1, Input::Read, seen(value), 10, 20),
        ]);
    }
    for value in [None, Some("a")] {
        assert_ok(&[
            done(0, write("a"), Output::Ok, 0, 5),
            unknown(1, Input::Delete, 10),
            done(0, Input::Read, seen(value), 20, 30),
        ]);
    }
}

#[test]
fn a_read_with_an_unknown_answer_constrains_nothing() {
    assert_ok(&[
        done(0, write("a"), Output::Ok, 0, 10),
        unknown(1, Input::Read, 20),
    ]);
}

#[test]
fn an_answer_of_the_wrong_kind_is_illegal() {
    assert_illegal(&[done(0, Input::Read, Output::Ok, 0, 10)], 0);
}

#[test]
fn keys_are_checked_apart() {
    let mut other = done(1, Input::Read, seen(Some("a")), 20, 30);
    other.key = "other".to_owned();
    let history = [done(0, write("a"), Output::Ok, 0, 10), other];
    match check(&history) {
        CheckResult::Illegal { key, stuck, .. } => assert_eq!((key.as_str(), stuck), ("other", 1)),
        result => panic!("a read of a value written to another key passed: {result:?}"),
    }
}

#[test]
fn the_explanation_shows_the_prefix_and_the_stuck_operation() {
    let history = [
        done(0, write("a"), Output::Ok, 0, 1_000_000),
        done(0, write("b"), Output::Ok, 2_000_000, 3_000_000),
        done(1, Input::Read, seen(Some("a")), 4_000_000, 5_000_000),
    ];
    let result = check(&history);
    let CheckResult::Illegal { linearized, .. } = &result else {
        panic!("expected Illegal, got {result:?}");
    };
    assert_eq!(linearized, &[0, 1]);
    let text = result.to_string();
    assert!(text.contains("has 2 of the key's 3 operations"), "{text}");
    assert!(
        text.contains("#1 client 0 [2.000, 3.000] Write(\"b\") -> Ok"),
        "{text}"
    );
    assert!(text.contains("leaving the value Some(\"b\")"), "{text}");
    assert!(
        text.contains("#2 client 1 [4.000, 5.000] Read -> Read(Some(\"a\"))"),
        "{text}"
    );
}

#[test]
fn past_its_limits_the_checker_says_it_does_not_know() {
    let history: Vec<Operation> = (0..20)
        .map(|i| {
            done(
                i,
                write(&i.to_string()),
                Output::Ok,
                i as u64,
                100 + i as u64,
            )
        })
        .collect();
    assert!(check(&history).is_ok());
    let few_ops = Limits {
        max_ops_per_key: 10,
        ..Limits::default()
    };
    let few_steps = Limits {
        max_steps_per_key: 10,
        ..Limits::default()
    };
    for limits in [few_ops, few_steps] {
        match check_with(&history, limits) {
            CheckResult::Unknown { key, .. } => assert_eq!(key, "k"),
            result => panic!("{limits:?}: {result:?}"),
        }
    }
}

#[test]
fn the_recorder_times_operations_on_one_clock() {
    let history = History::new();
    let first = history.call(0, "k", write("a"));
    history.finish(first, Output::Ok);
    let read = history.call(1, "k", Input::Read);
    let lost = history.call(2, "k", Input::Delete);
    history.finish(read, seen(Some("a")));
    history.unknown(lost);
    let ops = history.operations();
    assert_eq!(ops.len(), 3);
    assert!(ops[0].ret.expect("finished") <= ops[1].call);
    assert_eq!((ops[2].output.as_ref(), ops[2].ret), (None, None));
    assert!(history.check().is_ok());
}
