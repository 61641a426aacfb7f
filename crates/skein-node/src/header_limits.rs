//! A cap on the size of a request's head (target plus headers), answered
//! with a JSON 431. hyper already refuses more than 100 headers (with an
//! empty body, before any of our code runs) but buffers up to ~400 KiB of
//! head; no endpoint of ours needs more than a bearer token and a few
//! standard headers, so a client sending more is refused early and
//! clearly.

use crate::api::error_response;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

/// Most bytes of request target plus header names and values accepted.
pub const REQUEST_HEAD_BYTES_MAX: usize = 16 * 1024;

pub async fn limit_request_head(request: Request, next: Next) -> Response {
    let head_bytes = request.uri().to_string().len()
        + request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if head_bytes > REQUEST_HEAD_BYTES_MAX {
        return error_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "header_fields_too_large",
            format!(
                "the request's target and headers take {head_bytes} bytes; \
                 at most {REQUEST_HEAD_BYTES_MAX} are accepted"
            ),
        );
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;

    #[tokio::test]
    async fn an_oversized_head_gets_a_json_431_and_a_normal_one_passes() {
        let app = Router::new()
            .route("/ok", get(|| async { "fine" }))
            .layer(axum::middleware::from_fn(limit_request_head));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();

        let normal = http
            .get(format!("{base}/ok"))
            .header("authorization", format!("Bearer {}", "t".repeat(64)))
            .send()
            .await
            .unwrap();
        assert_eq!(normal.status().as_u16(), 200);

        let big = http
            .get(format!("{base}/ok"))
            .header("x-padding", "a".repeat(REQUEST_HEAD_BYTES_MAX))
            .send()
            .await
            .unwrap();
        assert_eq!(big.status().as_u16(), 431);
        let body: serde_json::Value = big.json().await.unwrap();
        assert_eq!(body["code"], "header_fields_too_large");

        let long_target = http
            .get(format!(
                "{base}/ok?q={}",
                "b".repeat(REQUEST_HEAD_BYTES_MAX)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(long_target.status().as_u16(), 431);
    }
}
