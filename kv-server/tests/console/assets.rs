//! `/ui` over plain HTTP: each file with its content type, entity tag and
//! the security headers; the page's own references all served; public
//! while the API stays guarded; no CORS; `--no-ui`.

use kv_testkit::http::{agent, send_with, Answer};
use kv_testkit::TestServer;

use crate::{start_server, ROOT};

fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Answer {
    send_with(&agent(), "GET", &server.url(path), headers, None)
}

/// Asserts the headers every `/ui` answer carries.
fn assert_secured(answer: &Answer, what: &str) {
    let policy = answer
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ] {
        assert!(
            policy.contains(directive),
            "{what}: {directive} missing from {policy}"
        );
    }
    assert!(!policy.contains("unsafe-"), "{what}: {policy}");
    assert_eq!(
        answer.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        answer.header("referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
    assert_eq!(answer.header("access-control-allow-origin"), None, "{what}");
}

#[test]
fn every_console_file_is_served_with_its_type_tag_and_security_headers() {
    let server = start_server(&["--in-memory"]);
    let page = get(&server, "/ui/", &[]);
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_secured(&page, "/ui/");
    let html = page.text();
    assert!(!html.contains("<script>"), "no inline script");
    assert!(!html.contains(" style="), "no inline style");

    // Every file the page names, and every module its scripts import.
    let mut pending = references(&html, &["src=\"", "href=\""]);
    let mut seen = Vec::new();
    while let Some(path) = pending.pop() {
        if seen.contains(&path) {
            continue;
        }
        let answer = get(&server, &format!("/ui/{path}"), &[]);
        assert_eq!(answer.status, 200, "/ui/{path}: {}", answer.text());
        assert_secured(&answer, &path);
        let expected = match path.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("{path}: unexpected kind {other:?}"),
        };
        assert_eq!(answer.header("content-type"), Some(expected), "{path}");
        let tag = answer.header("etag").expect("an ETag").to_owned();
        let again = get(&server, &format!("/ui/{path}"), &[("if-none-match", &tag)]);
        assert_eq!(again.status, 304, "{path} with If-None-Match");
        assert!(again.body.is_empty());
        assert_secured(&again, &format!("{path} (304)"));
        if path.ends_with(".js") {
            let text = answer.text();
            assert!(!text.contains("eval("), "{path} calls eval");
            assert!(!text.contains("innerHTML"), "{path} uses innerHTML");
            let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
            for import in references(&text, &["from './"]) {
                pending.push(format!("{dir}/{import}"));
            }
        }
        seen.push(path);
    }
    assert!(seen.len() >= 10, "the page and its modules: {seen:?}");

    let missing = get(&server, "/ui/no-such-file.js", &[]);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "not_found");
    assert_secured(&missing, "a missing file");

    let no_redirects: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let bare = send_with(&no_redirects, "GET", &server.url("/ui"), &[], None);
    assert_eq!(bare.status, 308);
    assert_eq!(bare.header("location"), Some("ui/"));
    assert_secured(&bare, "/ui");
}

/// The relative paths after each of `markers` in `text` (up to a quote).
fn references(text: &str, markers: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for marker in markers {
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            let end = rest.find(['"', '\'']).expect("a closing quote");
            let path = rest[..end].trim_start_matches("./");
            if !path.contains(':') && !path.starts_with('#') {
                found.push(path.to_owned());
            }
        }
    }
    found
}

#[test]
fn the_console_is_public_while_the_api_it_calls_needs_a_token() {
    let server = start_server(&["--in-memory", "--auth-token", ROOT]);
    assert_eq!(get(&server, "/ui/", &[]).status, 200);
    assert_eq!(get(&server, "/ui/js/app.js", &[]).status, 200);
    assert_eq!(get(&server, "/v1/kv", &[]).status, 401);
    let bearer = format!("Bearer {ROOT}");
    assert_eq!(
        get(&server, "/v1/kv", &[("authorization", &bearer)]).status,
        200
    );
    // No cookie is ever set.
    assert_eq!(get(&server, "/ui/", &[]).header("set-cookie"), None);
}

#[test]
fn another_origin_gets_no_cors_permission() {
    let server = start_server(&["--in-memory"]);
    let origin = ("origin", "http://evil.example");
    for path in ["/ui/", "/v1/kv", "/v1/kv/k"] {
        let answer = get(&server, path, &[origin]);
        assert_eq!(
            answer.header("access-control-allow-origin"),
            None,
            "GET {path}"
        );
        let preflight = send_with(
            &agent(),
            "OPTIONS",
            &server.url(path),
            &[
                origin,
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "authorization"),
            ],
            None,
        );
        assert!(
            preflight.status >= 400,
            "OPTIONS {path}: {}",
            preflight.status
        );
        assert_eq!(
            preflight.header("access-control-allow-origin"),
            None,
            "OPTIONS {path}"
        );
        assert_eq!(
            preflight.header("access-control-allow-headers"),
            None,
            "OPTIONS {path}"
        );
    }
}

#[test]
fn no_ui_turns_the_console_off() {
    let server = start_server(&["--in-memory", "--no-ui"]);
    for path in ["/ui", "/ui/", "/ui/js/app.js"] {
        let answer = get(&server, path, &[]);
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.json()["error"]["code"], "not_found", "{path}");
    }
    assert_eq!(get(&server, "/", &[]).status, 200, "the API is unchanged");
}
