//! Every error the REST API sends has the JSON body `{"error", "code"}`,
//! including the ones axum's extractors and router make themselves (a body
//! over the limit, a wrong method, a malformed path): this layer rewrites
//! any 4xx/5xx response that is not JSON into that shape, keeping its
//! status and headers, so clients and the OpenAPI document can rely on it.

use crate::api::error_response;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

/// Longest original error text carried into the JSON body.
const MESSAGE_BYTES_MAX: usize = 1024;

pub async fn json_error_bodies(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MESSAGE_BYTES_MAX)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    } else {
        text
    };
    let code = status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
        .replace(' ', "_");
    let mut rewritten = error_response(status, &code, message);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name, value.clone());
        }
    }
    rewritten
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::routing::post;
    use axum::Router;

    #[tokio::test]
    async fn plain_errors_become_json_and_json_ones_are_kept() {
        let app = Router::new()
            .route(
                "/plain",
                post(|| async { (StatusCode::PAYLOAD_TOO_LARGE, "too big") }),
            )
            .route(
                "/json",
                post(|| async { error_response(StatusCode::CONFLICT, "mine", "kept") }),
            )
            .layer(axum::middleware::from_fn(json_error_bodies));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        let call = |path: &str, method: reqwest::Method| {
            let request = http.request(method, format!("{base}{path}"));
            async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                (status, response.json::<serde_json::Value>().await.unwrap())
            }
        };
        let (status, body) = call("/plain", reqwest::Method::POST).await;
        assert_eq!(status, 413);
        assert_eq!(body["code"], "payload_too_large");
        assert_eq!(body["error"], "too big");
        let (status, body) = call("/json", reqwest::Method::POST).await;
        assert_eq!((status, &body["code"]), (409, &serde_json::json!("mine")));
        let (status, body) = call("/plain", reqwest::Method::GET).await;
        assert_eq!(status, 405);
        assert_eq!(body["code"], "method_not_allowed");
    }
}
