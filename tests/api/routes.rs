//! The routes the server serves, read from its source (`.route("…", get(…).post(…))`
//! in `src/http/*.rs` and `src/realtime/mod.rs`), so a route added without an
//! OpenAPI entry or a row in the security matrix fails a test; and the
//! OpenAPI document the binary serves.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// (METHOD, path) of every route, paths as axum writes them (`{id}`, `{*file}`).
pub fn served() -> BTreeSet<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("src/http"))
        .expect("src/http")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.push(root.join("src/realtime/mod.rs"));
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a source file");
        routes.extend(scan(&text));
    }
    routes
}

/// The `.route(...)` calls of one source file.
pub fn scan(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let Some(open) = rest.find('"') else { break };
        if !rest[..open].trim().is_empty() {
            continue; // not a literal path
        }
        let after = &rest[open + 1..];
        let close = after.find('"').expect("a closing quote");
        let path = after[..close].to_owned();
        // The handler expression: up to the `)` that closes `.route(`.
        let body = &after[close + 1..];
        let mut depth = 1usize;
        let mut end = body.len();
        for (i, c) in body.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let handlers = &body[..end];
        for method in METHODS {
            let needle = format!("{method}(");
            let mut from = 0;
            while let Some(i) = handlers[from..].find(&needle) {
                let start = from + i;
                let before = handlers[..start].chars().next_back();
                if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
                    found.push((method.to_uppercase(), path.clone()));
                    break;
                }
                from = start + needle.len();
            }
        }
    }
    found
}

/// (METHOD, path) of every operation in an OpenAPI document, paths in axum's
/// spelling (`{file}` of the catch-all routes written back as `{*file}`).
pub fn openapi_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let axum_path = match path.as_str() {
            "/client/{file}" => "/client/{*file}".to_owned(),
            "/assets/{file}" => "/assets/{*file}".to_owned(),
            other => other.to_owned(),
        };
        for method in item.as_object().expect("a path item").keys() {
            if METHODS.contains(&method.as_str()) {
                ops.insert((method.to_uppercase(), axum_path.clone()));
            }
        }
    }
    ops
}

/// docs/openapi.json, read once: `concrete` takes parameter types from it.
fn documented() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
        serde_json::from_str(&std::fs::read_to_string(file).expect("docs/openapi.json"))
            .expect("docs/openapi.json is JSON")
    })
}

/// The schema docs/openapi.json gives a path parameter (any operation of the path).
fn parameter_schema(path: &str, name: &str) -> Value {
    let openapi_path = path.replace("{*", "{");
    let Some(item) = documented()["paths"][openapi_path.as_str()].as_object() else {
        return Value::Null;
    };
    item.values()
        .filter_map(|op| op["parameters"].as_array())
        .flatten()
        .find(|p| p["in"] == "path" && p["name"] == name)
        .map_or(Value::Null, |p| p["schema"].clone())
}

/// A request path for a route: each parameter filled with a plausible value of
/// the type docs/openapi.json documents for it.
pub fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').expect("a closing brace") + open;
        let name = rest[open + 1..close].trim_start_matches('*');
        let schema = parameter_schema(path, name);
        let typed = match (name, schema["type"].as_str(), schema["format"].as_str()) {
            ("file", ..) => "pgchat.js",
            ("emoji", ..) => "%F0%9F%91%8D",
            (_, Some("integer"), _) => "7",
            (_, Some("string"), Some("uuid")) | (_, None, _) => {
                "7d0c1f6e-4a9b-4f0e-9a51-0d3f2b1c5e77"
            }
            _ => "someone",
        };
        // An enumerated parameter takes its first allowed value.
        out.push_str(schema["enum"][0].as_str().unwrap_or(typed));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_scan_reads_methods_and_paths() {
    let text = r#"
        Router::new()
            .route("/v1/a/{id}", get(one).put(update).delete(remove))
            .route(
                "/v1/b",
                post(make),
            )
            .route("/", get(|h: HeaderMap| async move { page("index.html", &h) }))
            .route("/v1/c", delete(leave).post(leave))
    "#;
    let found = scan(text);
    let want: Vec<(String, String)> = [
        ("GET", "/v1/a/{id}"),
        ("PUT", "/v1/a/{id}"),
        ("DELETE", "/v1/a/{id}"),
        ("POST", "/v1/b"),
        ("GET", "/"),
        ("POST", "/v1/c"),
        ("DELETE", "/v1/c"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    let found: BTreeSet<_> = found.into_iter().collect();
    assert_eq!(found, want.into_iter().collect::<BTreeSet<_>>());
    assert_eq!(
        concrete("/v1/x/{id}/y/{*file}"),
        "/v1/x/7d0c1f6e-4a9b-4f0e-9a51-0d3f2b1c5e77/y/pgchat.js"
    );
    // Types come from docs/openapi.json: the review queue's items are numbered.
    assert_eq!(
        concrete("/v1/moderation/queue/{id}/approve"),
        "/v1/moderation/queue/7/approve"
    );
    assert_eq!(
        concrete("/v1/rooms/{id}/requests/{user_id}/approve"),
        "/v1/rooms/7d0c1f6e-4a9b-4f0e-9a51-0d3f2b1c5e77/requests/someone/approve"
    );
}

#[tokio::test]
async fn the_openapi_document_is_served_and_names_every_route_the_router_serves() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = response.json().await.expect("JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let documented: BTreeSet<(String, String)> = openapi_operations(&doc);
    let served = served();
    assert!(served.len() > 60, "the scan found the routes: {served:?}");
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "served but not in docs/openapi.json: {missing:?}"
    );
    let stale: Vec<_> = documented.difference(&served).collect();
    assert!(
        stale.is_empty(),
        "in docs/openapi.json but not served: {stale:?}"
    );

    // Every operation documents its answers, and each $ref resolves.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} documents no responses"
            );
            assert!(op["summary"].is_string(), "{method} {path} has no summary");
        }
    }
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = reference.split('"').next().unwrap();
        let pointer = target.strip_prefix('#').expect("local refs only");
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {target}");
    }
}

#[tokio::test]
async fn every_scanned_route_is_really_served() {
    // The scan of src/ is what the other tests trust: check it against the server.
    // An unknown path answers 404 `not_found` ("route not found"); a known path with
    // the wrong method 405. A served route answers anything else (401 here: no token).
    let app = spawn_app_with(|config| config.dev = true).await;
    let mut wrong = Vec::new();
    for (method, path) in served() {
        let concrete = concrete(&path);
        let request = app
            .http
            .request(method.parse().unwrap(), app.url(&concrete));
        let (status, body) = app.call(request).await;
        let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
            || (status == StatusCode::NOT_FOUND && body["error"]["message"] == "route not found");
        if unrouted {
            wrong.push(format!("{method} {path} → {status} {body}"));
        }
    }
    assert!(wrong.is_empty(), "scanned but not served: {wrong:#?}");
}
