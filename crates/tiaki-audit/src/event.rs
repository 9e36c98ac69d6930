//! The shape of one audit event.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use tiaki_domain::{
    AccessId, AccountId, Action, Actor, DocumentId, Grant, PatientId, PracticeId, SessionId, Target,
};
use time::OffsetDateTime;

/// What came of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Allowed and carried out.
    Allowed,
    /// Refused by the policy (the caller saw 404).
    Denied,
    /// The object does not exist (the caller saw the same 404).
    NotFound,
}

impl Outcome {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::NotFound => "not_found",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Allowed, Self::Denied, Self::NotFound]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// Where a request came from: facts the web edge knows, carried into the event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestContext {
    pub address: Option<IpAddr>,
    /// Why the access was made, when the caller says (e.g. "clinical care").
    pub purpose: Option<String>,
}

/// One audit event. Identifiers only; `reason` is a machine code, never free text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: AccessId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor_account: Option<AccountId>,
    pub actor_role: String,
    pub actor_practice: Option<PracticeId>,
    pub session: Option<SessionId>,
    pub action: String,
    pub outcome: Outcome,
    pub patient: Option<PatientId>,
    pub practice: Option<PracticeId>,
    pub document: Option<DocumentId>,
    pub address: Option<IpAddr>,
    pub purpose: Option<String>,
    pub reason: Option<String>,
    /// Bytes served or stored, where the action moves content.
    pub bytes: Option<u64>,
}

impl AuditEvent {
    /// An event about `actor` doing a policy `action` to `target`.
    #[must_use]
    pub fn new(
        actor: Option<&Actor>,
        action: Action,
        target: Option<&Target>,
        outcome: Outcome,
        ctx: &RequestContext,
    ) -> Self {
        Self::named(action.as_str(), actor, target, outcome, ctx)
    }

    /// An event whose action is not a policy action (`session.login`, …).
    #[must_use]
    pub fn named(
        action: &str,
        actor: Option<&Actor>,
        target: Option<&Target>,
        outcome: Outcome,
        ctx: &RequestContext,
    ) -> Self {
        Self {
            id: AccessId::new(),
            at: OffsetDateTime::now_utc(),
            actor_account: actor.map(|a| a.account),
            actor_role: actor.map_or("anonymous", Actor::role_name).to_owned(),
            actor_practice: actor.and_then(Actor::practice),
            session: actor.map(|a| a.session),
            action: action.to_owned(),
            outcome,
            patient: target.and_then(Target::patient),
            practice: target.and_then(Target::practice),
            document: target.and_then(Target::document),
            address: ctx.address,
            purpose: ctx.purpose.clone(),
            reason: None,
            bytes: None,
        }
    }

    /// The same event attributed as `grant` says: a proxy or guardian acting for a
    /// patient is recorded under that role (`proxy`, `guardian`), with no practice of
    /// its own, so the patient's history shows who acted for them and how.
    #[must_use]
    pub fn attributed_to(mut self, grant: &Grant) -> Self {
        if grant.via().is_some() {
            grant.role_name().clone_into(&mut self.actor_role);
            self.actor_practice = None;
        }
        self
    }

    /// The same event with a machine-readable reason code.
    #[must_use]
    pub fn with_reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    #[must_use]
    pub fn with_bytes(mut self, bytes: u64) -> Self {
        self.bytes = Some(bytes);
        self
    }
}
