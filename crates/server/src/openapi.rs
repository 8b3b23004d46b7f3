//! The API's OpenAPI 3.1 document (`openapi.json`, written by hand beside
//! this file), served at `GET /api/v1/openapi.json` (and `/api/openapi.json`)
//! to any key, and [`ApiRoutes`]: the API's routes as they are registered,
//! which the tests compare with the document's paths, so a route added
//! without documenting it (or documented and gone) fails the build's tests.

use axum::Router;
use axum::handler::Handler;
use axum::http::header;
use axum::response::IntoResponse;

use crate::AppState;
use crate::auth::AnyKey;

const DOCUMENT: &str = include_str!("openapi.json");

/// A router that remembers the method and path of every route added to it.
pub(crate) struct ApiRoutes {
    router: Router<AppState>,
    /// (lower-case method, path in axum's syntax, which is OpenAPI's: `/api/v1/{entity}`).
    pub(crate) paths: Vec<(&'static str, String)>,
}

impl ApiRoutes {
    pub(crate) fn new() -> ApiRoutes {
        ApiRoutes { router: Router::new(), paths: Vec::new() }
    }

    pub(crate) fn get<H: Handler<T, AppState>, T: 'static>(mut self, path: &str, handler: H) -> ApiRoutes {
        self.router = self.router.route(path, axum::routing::get(handler));
        self.paths.push(("get", path.to_string()));
        self
    }

    pub(crate) fn post<H: Handler<T, AppState>, T: 'static>(mut self, path: &str, handler: H) -> ApiRoutes {
        self.router = self.router.route(path, axum::routing::post(handler));
        self.paths.push(("post", path.to_string()));
        self
    }

    pub(crate) fn merge(mut self, other: ApiRoutes) -> ApiRoutes {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }

    pub(crate) fn into_router(self) -> Router<AppState> {
        self.router
    }
}

pub(crate) fn routes() -> ApiRoutes {
    ApiRoutes::new().get("/api/v1/openapi.json", document).get("/api/openapi.json", document)
}

async fn document(_: AnyKey) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is JSON")
    }

    #[test]
    fn every_route_is_documented_and_every_documented_path_is_a_route() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "an OpenAPI 3 document");
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
            .collect();
        let routed: BTreeSet<(String, String)> =
            crate::api_routes().paths.into_iter().map(|(m, p)| (m.to_string(), p)).collect();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        assert!(undocumented.is_empty(), "routes missing from openapi.json: {undocumented:?}");
        let stale: Vec<_> = documented.difference(&routed).collect();
        assert!(stale.is_empty(), "openapi.json documents routes the server does not have: {stale:?}");
    }

    #[test]
    fn every_operation_is_complete_and_every_reference_resolves() {
        let doc = document();
        let mut ids = BTreeSet::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let at = format!("{method} {path}");
                assert!(op["summary"].is_string(), "{at}: a summary");
                assert!(op["responses"].as_object().is_some_and(|r| r.contains_key("200")), "{at}: a 200 answer");
                assert!(ids.insert(op["operationId"].as_str().unwrap().to_string()), "{at}: a unique operationId");
                // Every {parameter} of the path is declared.
                for name in path.split('{').skip(1).map(|s| s.split('}').next().unwrap()) {
                    let declared = op["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p["in"] == "path" && p["name"] == name);
                    assert!(declared, "{at}: path parameter {name} is declared");
                }
            }
        }
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let pointer = r.strip_prefix('#').expect("a local reference");
            assert!(doc.pointer(pointer).is_some(), "{r} resolves");
        }
    }
}
