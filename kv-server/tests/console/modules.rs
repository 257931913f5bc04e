//! The console's modules, called in the page itself (as the browser loads
//! them): the event-stream parser on input split at every point, the
//! choice of a value's view, the hex dump, and reading a gauge from
//! `/metrics`.

use serde_json::json;

use crate::Console;

/// Imports the modules and runs the checks; WebDriver waits for the
/// promise.
const CHECKS: &str = r#"
return (async () => {
  const sse = await import('./js/sse.js');
  const fmt = await import('./js/value_format.js');
  const status = await import('./js/status.js');

  const stream = 'retry: 1000\r\nid: 5\r\nevent: progress\r\ndata: {"rev":5}\r\n\r\n'
    + ': a comment\nevent: set\ndata: a\ndata: b\n\n'
    + 'event: set\ndata: no id yet\n\n'
    + 'id: 7\nevent: rm\ndata:x\r\r';
  const parses = [];
  for (let size = 1; size <= 9; size++) {
    const events = [];
    const parser = new sse.EventStreamParser((e) => events.push(e));
    for (let at = 0; at < stream.length; at += size) parser.push(stream.slice(at, at + size));
    parses.push(JSON.stringify(events));
  }

  const bytes = (text) => new TextEncoder().encode(text);
  const views = {
    json_typed: fmt.viewsFor(bytes('{"a": 1}'), 'application/json'),
    json_untyped: fmt.viewsFor(bytes('[1, 2]'), ''),
    json_typed_but_broken: fmt.viewsFor(bytes('{"a": '), 'application/json'),
    number_as_text: fmt.viewsFor(bytes('42'), 'text/plain'),
    text: fmt.viewsFor(bytes('hello'), 'text/plain'),
    not_utf8: fmt.viewsFor(new Uint8Array([0xff, 0xfe, 0x41]), 'text/plain'),
    controls: fmt.viewsFor(bytes('a\u0000b'), 'application/octet-stream'),
  };
  const dump = fmt.hexDump(new Uint8Array([0x41, 0x00, 0xff]));
  const narrow = fmt.hexDump(new Uint8Array(9).fill(0x61), 8);
  const hex = {
    round_trip: Array.from(fmt.parseHex(fmt.plainHex(new Uint8Array([0, 1, 254, 255])))),
    spaced: Array.from(fmt.parseHex('0a 0B\n0c')),
    odd: fmt.parseHex('abc'),
    not_hex: fmt.parseHex('zz'),
  };
  const metrics = '# TYPE kvstore_revision gauge\nkvstore_revision 42\nkvstore_nats_connected 1\n# EOF\n';
  const gauges = {
    revision: status.gauge(metrics, 'kvstore_revision'),
    nats: status.gauge(metrics, 'kvstore_nats_connected'),
    missing: status.gauge(metrics, 'kvstore_nats_publish_lag_revisions'),
  };
  return { parses, views, dump, narrow, hex, gauges };
})();
"#;

#[test]
fn the_page_modules_parse_streams_choose_views_and_read_gauges() {
    let Some(console) = Console::start("modules", &[]) else {
        return;
    };
    console.open("");
    let results = console.browser.execute(CHECKS, &[]);
    console.screenshot("modules");

    let expected = json!([
        {"type": "progress", "data": "{\"rev\":5}", "id": "5"},
        {"type": "set", "data": "a\nb", "id": "5"},
        {"type": "set", "data": "no id yet", "id": "5"},
        {"type": "rm", "data": "x", "id": "7"},
    ])
    .to_string();
    for (i, parsed) in results["parses"]
        .as_array()
        .expect("parses")
        .iter()
        .enumerate()
    {
        let parsed: serde_json::Value =
            serde_json::from_str(parsed.as_str().expect("text")).expect("JSON");
        assert_eq!(
            parsed.to_string(),
            expected,
            "chunks of {} characters",
            i + 1
        );
    }

    let views = &results["views"];
    assert_eq!(views["json_typed"], json!(["json", "text", "hex"]));
    assert_eq!(views["json_untyped"], json!(["json", "text", "hex"]));
    assert_eq!(views["json_typed_but_broken"], json!(["text", "hex"]));
    assert_eq!(views["number_as_text"], json!(["text", "hex"]));
    assert_eq!(views["text"], json!(["text", "hex"]));
    assert_eq!(views["not_utf8"], json!(["hex"]));
    assert_eq!(views["controls"], json!(["hex"]));

    // offset, two halves of 8 bytes (23 columns each), the printable bytes
    let dump = format!("00000000  {:<23}  {:<23}  |A..|", "41 00 ff", "");
    assert_eq!(results["dump"], dump);
    // Eight bytes a line: halves of 4 bytes (11 columns each).
    let narrow = format!(
        "00000000  61 61 61 61  61 61 61 61  |aaaaaaaa|\n00000008  {:<11}  {:<11}  |a|",
        "61", ""
    );
    assert_eq!(results["narrow"], narrow);
    assert_eq!(results["hex"]["round_trip"], json!([0, 1, 254, 255]));
    assert_eq!(results["hex"]["spaced"], json!([10, 11, 12]));
    assert_eq!(results["hex"]["odd"], json!(null));
    assert_eq!(results["hex"]["not_hex"], json!(null));

    assert_eq!(
        results["gauges"],
        json!({"revision": 42, "nats": 1, "missing": null})
    );
}
