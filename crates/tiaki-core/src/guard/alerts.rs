//! Where alerts go besides the database: the log, and a JSON webhook (an on-call
//! system, a chat channel, a SIEM). Sending never holds up the request that raised the
//! alert; a webhook that fails is retried a few times and then logged.

use serde::Serialize;
use std::time::Duration;
use tiaki_store::Alert;

/// The alert as a webhook receives it: ids and figures only.
#[derive(Debug, Serialize)]
pub struct AlertPayload<'a> {
    pub id: uuid::Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    pub severity: &'a str,
    pub detector: &'a str,
    pub scope: &'a str,
    pub account: Option<uuid::Uuid>,
    pub practice: Option<uuid::Uuid>,
    pub summary: &'a str,
    pub containment: Option<uuid::Uuid>,
}

impl<'a> From<&'a Alert> for AlertPayload<'a> {
    fn from(a: &'a Alert) -> Self {
        Self {
            id: a.id,
            at: a.at,
            severity: a.severity.as_str(),
            detector: &a.detector,
            scope: &a.scope,
            account: a.account.map(|x| *x.as_uuid()),
            practice: a.practice.map(|x| *x.as_uuid()),
            summary: &a.summary,
            containment: a.containment,
        }
    }
}

pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct AlertSinks {
    webhook: Option<(reqwest::Client, String)>,
}

const WEBHOOK_ATTEMPTS: u32 = 4;

impl AlertSinks {
    #[must_use]
    pub fn new(webhook_url: Option<String>) -> Self {
        let webhook = webhook_url.and_then(|url| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| tracing::error!(error = %e, "alert webhook client not built"))
                .ok()
                .map(|client| (client, url))
        });
        Self { webhook }
    }

    /// Logs the alert and, if a webhook is configured, posts it in the background.
    pub fn send(&self, alert: &Alert) {
        tracing::warn!(
            alert = %alert.id,
            severity = alert.severity.as_str(),
            detector = %alert.detector,
            scope = %alert.scope,
            containment = ?alert.containment,
            "guard alert"
        );
        let Some((client, url)) = self.webhook.clone() else {
            return;
        };
        let Ok(body) = serde_json::to_vec(&AlertPayload::from(alert)) else {
            return;
        };
        let id = alert.id;
        tokio::spawn(async move {
            for attempt in 1..=WEBHOOK_ATTEMPTS {
                let sent = client
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status);
                match sent {
                    Ok(_) => return,
                    Err(e) if attempt == WEBHOOK_ATTEMPTS => {
                        tracing::error!(alert = %id, error = %e, "alert webhook failed");
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(250 << attempt)).await,
                }
            }
        });
    }
}
