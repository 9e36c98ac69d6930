//! A small client for the JSON API, as a third-party app would use it.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// A document as the API lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Document {
    pub id: String,
    pub patient_id: String,
    pub kind: String,
    pub title: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
}

/// A file to upload.
#[derive(Debug, Clone)]
pub struct NewFile<'a> {
    pub title: &'a str,
    pub kind: Option<&'a str>,
    pub filename: &'a str,
    pub mime: &'a str,
    pub bytes: Vec<u8>,
}

/// A signed-in API caller.
#[derive(Debug, Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

/// A plain client: no proxies, generous timeouts.
#[must_use]
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// POST /api/v1/sessions.
pub async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> Result<Api, String> {
    // Every sign-in needs a second factor: the demo's, from demo-logins.json.
    let mut body = json!({ "username": username, "password": password });
    if let Some((kind, code)) = super::server::second_factor(username, password) {
        body[kind] = json!(code);
    }
    let response = http
        .post(format!("{base}/api/v1/sessions"))
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("sign-in request failed: {e}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("sign-in answer unreadable: {e}"))?;
    if status != reqwest::StatusCode::CREATED {
        return Err(format!("sign-in answered {status}: {body}"));
    }
    assert!(body["expires_at"].is_string(), "no expires_at in {body}");
    Ok(Api {
        http: http.clone(),
        base: base.to_owned(),
        token: body["token"].as_str().unwrap().to_owned(),
    })
}

impl Api {
    pub async fn login(base: &str, username: &str, password: &str) -> Self {
        sign_in(&client(), base, username, password).await.unwrap()
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// GET a JSON resource, expecting 200.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// GET, giving the status and body, whatever they are.
    pub async fn get_raw(&self, path: &str) -> Result<(u16, Bytes), reqwest::Error> {
        let response = self.get(path).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.bytes().await?))
    }

    /// A patient's documents.
    pub async fn documents(&self, patient_id: &str) -> Vec<Document> {
        let value = self
            .get_json(&format!("/api/v1/patients/{patient_id}/documents"))
            .await;
        serde_json::from_value(value).unwrap()
    }

    /// A document's content: status and bytes.
    pub async fn content(&self, document_id: &str) -> Result<(u16, Bytes), reqwest::Error> {
        self.get_raw(&format!("/api/v1/documents/{document_id}/content"))
            .await
    }

    /// POST a multipart upload (fields in the order the server requires: title, type,
    /// file). Gives the status and the JSON answer.
    pub async fn upload(
        &self,
        patient_id: &str,
        file: NewFile<'_>,
    ) -> Result<(u16, Value), reqwest::Error> {
        let part = reqwest::multipart::Part::bytes(file.bytes)
            .file_name(file.filename.to_owned())
            .mime_str(file.mime)
            .unwrap();
        let mut form = reqwest::multipart::Form::new().text("title", file.title.to_owned());
        if let Some(kind) = file.kind {
            form = form.text("type", kind.to_owned());
        }
        let form = form.part("file", part);
        self.upload_form(patient_id, form).await
    }

    /// POST an already-built multipart form.
    pub async fn upload_form(
        &self,
        patient_id: &str,
        form: reqwest::multipart::Form,
    ) -> Result<(u16, Value), reqwest::Error> {
        let response = self
            .http
            .post(format!(
                "{}/api/v1/patients/{patient_id}/documents",
                self.base
            ))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok((status, value))
    }
}
