//! A small WebDriver (W3C) client over HTTP on ureq: the few commands the
//! console's tests use (navigate, find, click, type, read, run a script,
//! take a screenshot). No async runtime and nothing new to compile: ureq
//! and serde_json are already in the harness.

use std::time::Duration;

use serde_json::{json, Value};

/// The key under which WebDriver names an element.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The Enter key, for [`Element::send_keys`].
pub const ENTER: &str = "\u{E007}";

/// One WebDriver session on a running driver.
#[derive(Debug)]
pub struct Session {
    agent: ureq::Agent,
    /// `http://127.0.0.1:PORT/session/ID`.
    base: String,
}

/// An answer's `value`, or the driver's error (`error`, `message`).
pub type Reply = Result<Value, DriverError>;

/// An error answer of the driver.
#[derive(Debug, Clone)]
pub struct DriverError {
    /// The WebDriver error code, such as `no such element`.
    pub error: String,
    /// The driver's message.
    pub message: String,
}

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

/// An agent for a driver on loopback: any status as a value, and a time
/// limit above the driver's own page-load limit.
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Whether the driver at `driver_url` answers its status as ready (false
/// while it is not listening yet).
pub(crate) fn says_ready(agent: &ureq::Agent, driver_url: &str) -> bool {
    let Ok(mut response) = agent.get(format!("{driver_url}/status")).call() else {
        return false;
    };
    response
        .body_mut()
        .read_json::<Value>()
        .is_ok_and(|status| status["value"]["ready"] == Value::Bool(true))
}

/// Sends a command to the driver and returns its `value` or its error.
pub(crate) fn command(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> Reply {
    let request = ureq::http::Request::builder().method(method).uri(url);
    let result = match body {
        Some(body) => agent.run(
            request
                .header("content-type", "application/json")
                .body(body.to_string().into_bytes())
                .expect("a valid request"),
        ),
        None => agent.run(request.body(()).expect("a valid request")),
    };
    let mut response = result.unwrap_or_else(|e| panic!("WebDriver {method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .unwrap_or_else(|e| panic!("WebDriver {method} {url}: reading the answer: {e}"));
    let answer: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("WebDriver {method} {url}: not JSON ({e}): {text}"));
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if status >= 400 || value.get("error").is_some_and(Value::is_string) {
        return Err(DriverError {
            error: value["error"]
                .as_str()
                .unwrap_or("unknown error")
                .to_owned(),
            message: value["message"].as_str().unwrap_or_default().to_owned(),
        });
    }
    Ok(value)
}

impl Session {
    /// Opens a session on the driver at `driver_url` with `capabilities`.
    pub(crate) fn open(driver_url: &str, capabilities: Value) -> Result<Session, DriverError> {
        let agent = agent();
        let value = command(
            &agent,
            "POST",
            &format!("{driver_url}/session"),
            Some(json!({ "capabilities": { "alwaysMatch": capabilities } })),
        )?;
        let id = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {value}"));
        Ok(Session {
            agent,
            base: format!("{driver_url}/session/{id}"),
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        command(&self.agent, method, &format!("{}{path}", self.base), body)
    }

    fn must(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// Navigates to `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.must("POST", "/url", Some(json!({ "url": url })));
    }

    /// The first element matching the CSS `selector`, if any.
    pub fn try_find(&self, selector: &str) -> Option<Element<'_>> {
        let found = self.call(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": selector })),
        );
        match found {
            Ok(value) => Some(self.element(&value)),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("finding {selector:?}: {e}"),
        }
    }

    /// The first element matching the CSS `selector`.
    ///
    /// # Panics
    ///
    /// When there is none.
    pub fn find(&self, selector: &str) -> Element<'_> {
        self.try_find(selector)
            .unwrap_or_else(|| panic!("no element matches {selector:?}"))
    }

    /// Every element matching the CSS `selector`.
    pub fn find_all(&self, selector: &str) -> Vec<Element<'_>> {
        let value = self.must(
            "POST",
            "/elements",
            Some(json!({ "using": "css selector", "value": selector })),
        );
        value
            .as_array()
            .map(|all| all.iter().map(|v| self.element(v)).collect())
            .unwrap_or_default()
    }

    fn element(&self, value: &Value) -> Element<'_> {
        let id = value[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("not an element: {value}"));
        Element {
            session: self,
            id: id.to_owned(),
        }
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the
    /// page and returns what it returns.
    pub fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.must(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// The page as a PNG.
    pub fn screenshot_png(&self) -> Vec<u8> {
        use base64::Engine as _;
        let encoded = self.must("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("a base64 string"))
            .expect("a base64 screenshot")
    }

    /// Resizes the window (the page's viewport follows).
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.must(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    /// The text of the open alert, confirm or prompt, if one is open.
    pub fn alert_text(&self) -> Option<String> {
        match self.call("GET", "/alert/text", None) {
            Ok(text) => Some(text.as_str().unwrap_or_default().to_owned()),
            Err(e) if e.error == "no such alert" => None,
            Err(e) => panic!("reading the alert: {e}"),
        }
    }

    /// Ends the session (the browser exits).
    pub(crate) fn close(&self) {
        let _ = self.call("DELETE", "", None);
    }
}

/// An element of the page.
#[derive(Debug)]
pub struct Element<'s> {
    session: &'s Session,
    id: String,
}

impl Element<'_> {
    fn path(&self, tail: &str) -> String {
        format!("/element/{}{tail}", self.id)
    }

    /// Clicks it (scrolling it into view first).
    pub fn click(&self) {
        self.session
            .must("POST", &self.path("/click"), Some(json!({})));
    }

    /// Empties an input or text area.
    pub fn clear(&self) {
        self.session
            .must("POST", &self.path("/clear"), Some(json!({})));
    }

    /// Types `text` into it ([`ENTER`] presses Enter).
    pub fn send_keys(&self, text: &str) {
        self.session
            .must("POST", &self.path("/value"), Some(json!({ "text": text })));
    }

    /// Its visible text.
    pub fn text(&self) -> String {
        let text = self.session.must("GET", &self.path("/text"), None);
        text.as_str().unwrap_or_default().to_owned()
    }

    /// A DOM property, such as `value` or `disabled`.
    pub fn property(&self, name: &str) -> Value {
        self.session
            .must("GET", &self.path(&format!("/property/{name}")), None)
    }
}
