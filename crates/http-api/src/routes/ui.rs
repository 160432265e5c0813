//! The web dashboard: `GET /` (the page) and `GET /assets/{*file}` (its styles and ES modules).
//!
//! Plain HTML, CSS and JavaScript modules under `crates/http-api/dashboard/`, embedded in the
//! binary with `include_str!` (no Node toolchain). The pages talk only to the public `/api/v5`
//! routes; a Content-Security-Policy of `'self'` keeps every request on this listener.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{ApiError, ApiPath};
use crate::openapi::Op;
use crate::routes::{Access, ApiRoutes};

/// Everything the dashboard may load: its own origin only (and `data:` images).
const CSP: &str = "default-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   style-src 'self'; script-src 'self'; font-src 'self'; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

macro_rules! asset {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/dashboard/", $path)),
        )
    };
}

/// The embedded files, by path under `/assets/`.
const ASSETS: &[(&str, &str)] = &[
    asset!("app.css"),
    asset!("js/app.js"),
    asset!("js/api.js"),
    asset!("js/dom.js"),
    asset!("js/chart.js"),
    asset!("js/sampler.js"),
    asset!("js/pages/login.js"),
    asset!("js/pages/overview.js"),
    asset!("js/pages/clients.js"),
    asset!("js/pages/subscriptions.js"),
    asset!("js/pages/links.js"),
    asset!("js/pages/link_form.js"),
    asset!("js/pages/link_detail.js"),
    asset!("favicon.svg"),
];

const INDEX: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/dashboard/index.html"));

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "text/html; charset=utf-8",
    }
}

fn page(path: &str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

async fn index() -> Response {
    page("index.html", INDEX)
}

async fn asset(ApiPath(path): ApiPath<String>) -> Response {
    match ASSETS.iter().find(|(p, _)| *p == path) {
        Some((p, body)) => page(p, body),
        None => {
            ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "Asset not found").into_response()
        }
    }
}

/// The dashboard routes (public: the page holds no data, the API asks for the token).
pub(crate) fn routes(r: ApiRoutes) -> ApiRoutes {
    r.add_full(Method::GET, "/", Access::Public, index)
        .add_full(Method::GET, "/assets/{*file}", Access::Public, asset)
}

pub(crate) fn docs() -> Vec<Op> {
    let text = Some(json!({"type": "string"}));
    vec![
        Op::full(Method::GET, "/", "Dashboard", "The web dashboard")
            .access(Access::Public)
            .response(200, "HTML page", text.clone()),
        Op::full(
            Method::GET,
            "/assets/{file}",
            "Dashboard",
            "A file of the web dashboard (styles, scripts)",
        )
        .access(Access::Public)
        .response(200, "The file", text)
        .error(404, &["NOT_FOUND"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `import` and `<link>`/`<script>` of the dashboard names an embedded file.
    #[test]
    fn every_referenced_asset_is_embedded() {
        let names: Vec<&str> = ASSETS.iter().map(|(p, _)| *p).collect();
        let mut referenced = Vec::new();
        for (path, body) in ASSETS.iter().copied().chain([("index.html", INDEX)]) {
            for line in body.lines() {
                let l = line.trim();
                let Some(spec) = l
                    .strip_prefix("import ")
                    .and_then(|rest| rest.split(['"', '\'']).nth(1))
                else {
                    continue;
                };
                let base = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                referenced.push(resolve(base, spec));
            }
            for attr in ["href=\"/assets/", "src=\"/assets/"] {
                for piece in body.split(attr).skip(1) {
                    referenced.push(piece.split('"').next().unwrap_or("").to_string());
                }
            }
        }
        assert!(referenced.len() > 10, "{referenced:?}");
        for r in referenced {
            assert!(
                names.contains(&r.as_str()),
                "{r} is referenced but not embedded"
            );
        }
    }

    fn resolve(base: &str, spec: &str) -> String {
        let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
        for seg in spec.split('/') {
            match seg {
                "." => {}
                ".." => {
                    parts.pop();
                }
                s => parts.push(s),
            }
        }
        parts.join("/")
    }

    #[test]
    fn the_page_names_no_other_origin() {
        for (path, body) in ASSETS.iter().copied().chain([("index.html", INDEX)]) {
            let body = body.replace("http://www.w3.org/2000/svg", "");
            for scheme in ["http://", "https://", "//fonts.", "cdn"] {
                assert!(!body.contains(scheme), "{path} mentions {scheme}");
            }
        }
    }
}
