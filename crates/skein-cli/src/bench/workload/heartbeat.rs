//! heartbeat: `POST /api/v1/request` with `{"Echo":{"text":...}}`, answered
//! by the node alone; client `i` talks to node `i mod n`.

use super::{http_client, status_error, transport_error, Workload};
use std::time::Duration;

pub struct HeartbeatWorkload {
    pub apis: Vec<String>,
    /// The request body, the same for every request.
    pub body: String,
    pub timeout: Duration,
}

impl HeartbeatWorkload {
    pub fn new(apis: Vec<String>, text: String, timeout: Duration) -> Self {
        let body = serde_json::json!({ "Echo": { "text": text } }).to_string();
        Self {
            apis,
            body,
            timeout,
        }
    }
}

pub struct HeartbeatClient {
    http: reqwest::Client,
    url: String,
}

impl Workload for HeartbeatWorkload {
    type Client = HeartbeatClient;

    fn client(&self, index: usize) -> HeartbeatClient {
        let api = &self.apis[index % self.apis.len()];
        HeartbeatClient {
            http: http_client(self.timeout),
            url: format!("{api}/api/v1/request"),
        }
    }

    async fn call(&self, client: &mut HeartbeatClient, _n: u64) -> Result<(), String> {
        let response = client
            .http
            .post(&client.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(self.body.clone())
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| transport_error(&e))?;
        if status.is_success() {
            return Ok(());
        }
        Err(status_error(status, &body))
    }
}
