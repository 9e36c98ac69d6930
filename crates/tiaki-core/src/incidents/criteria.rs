//! What an incident's scope looks for, as the person running it writes it, checked and
//! turned into the store's [`ScopeQuery`].

use crate::{CoreError, Tiaki};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use tiaki_audit::AuditQuery;
use tiaki_domain::{AccountId, SessionId};
use tiaki_store::ScopeQuery;
use time::OffsetDateTime;
use uuid::Uuid;

/// Which part of a record a scope counts as reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeModule {
    /// Documents opened, their details, the list of them, and the patient's header.
    Documents,
    /// Every allowed action about a patient's record.
    All,
}

impl ScopeModule {
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        match s.trim() {
            "documents" => Ok(Self::Documents),
            "all" => Ok(Self::All),
            other => Err(CoreError::invalid(
                "bad_module",
                format!("Unknown module `{other}`: use `documents` or `all`."),
            )),
        }
    }

    /// The audit actions that reach a patient's record in this module.
    fn actions(self) -> Vec<String> {
        let documents = [
            "document.read",
            "document.meta",
            "document.list",
            "patient.view",
        ];
        let more = [
            "audit.history",
            "proxy.manage",
            "guardian.manage",
            "security.status",
        ];
        let chosen: Vec<&str> = match self {
            Self::Documents => documents.to_vec(),
            Self::All => documents.iter().chain(more.iter()).copied().collect(),
        };
        chosen.into_iter().map(str::to_owned).collect()
    }
}

/// An incident's criteria. At least one of `actors`, `sessions` and `addresses`; an
/// event matching any of them, inside the window, is in scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criteria {
    /// Accounts (usernames or account ids) whose reads are in scope.
    #[serde(default)]
    pub actors: Vec<String>,
    /// Sessions or API tokens (session ids).
    #[serde(default)]
    pub sessions: Vec<String>,
    /// Address ranges in CIDR form (`203.0.113.0/24`, `2001:db8::/32`, or one address).
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub from: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub to: Option<OffsetDateTime>,
    pub module: ScopeModule,
}

/// The most criteria of each kind: a scope is a targeted question, not a dump.
const MAX_EACH: usize = 1_000;

/// Parses `203.0.113.0/24` or a bare address.
pub fn parse_cidr(s: &str) -> Result<(IpAddr, u8), CoreError> {
    let bad = || {
        CoreError::invalid(
            "bad_address",
            format!("`{s}` is not an address or a CIDR range (e.g. 203.0.113.0/24)."),
        )
    };
    let (ip, prefix) = match s.trim().split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (s.trim(), None),
    };
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        None => max,
    };
    Ok((ip, prefix))
}

impl Tiaki {
    /// Checks criteria and resolves usernames, producing the store's query over the
    /// signed tree of `tree_size` leaves.
    pub(crate) async fn scope_query(
        &self,
        criteria: &Criteria,
        tree_size: u64,
    ) -> Result<ScopeQuery, CoreError> {
        if criteria.actors.is_empty()
            && criteria.sessions.is_empty()
            && criteria.addresses.is_empty()
        {
            return Err(CoreError::invalid(
                "no_criteria",
                "Name at least one actor, session or address range: a scope says who \
                 reached what.",
            ));
        }
        if criteria.actors.len() > MAX_EACH
            || criteria.sessions.len() > MAX_EACH
            || criteria.addresses.len() > MAX_EACH
        {
            return Err(CoreError::invalid(
                "too_many_criteria",
                format!("At most {MAX_EACH} actors, sessions and address ranges each."),
            ));
        }
        if let (Some(from), Some(to)) = (criteria.from, criteria.to)
            && from >= to
        {
            return Err(CoreError::invalid(
                "bad_window",
                "The window's start must come before its end.",
            ));
        }
        let mut actors = Vec::with_capacity(criteria.actors.len());
        for name in &criteria.actors {
            actors.push(self.resolve_actor(name).await?);
        }
        let sessions = criteria
            .sessions
            .iter()
            .map(|s| {
                Uuid::parse_str(s.trim())
                    .map(SessionId::from_uuid)
                    .map_err(|_| {
                        CoreError::invalid("bad_session", format!("`{s}` is not a session id."))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let address_ranges = criteria
            .addresses
            .iter()
            .map(|a| {
                let cidr = parse_cidr(a)?;
                let query = AuditQuery {
                    address: Some(cidr),
                    ..AuditQuery::default()
                };
                query.address_range().ok_or_else(|| {
                    CoreError::invalid("bad_address", format!("`{a}` is not a range."))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ScopeQuery {
            actors,
            sessions,
            address_ranges,
            from: criteria.from,
            to: criteria.to,
            actions: criteria.module.actions(),
            tree_size,
        })
    }

    /// An account named by username or id. An unknown username is an error; an id is
    /// taken as given (the audit log may name accounts since removed).
    pub async fn resolve_actor(&self, name: &str) -> Result<AccountId, CoreError> {
        let name = name.trim();
        if let Ok(id) = Uuid::parse_str(name) {
            return Ok(AccountId::from_uuid(id));
        }
        match self.store.account_by_username(&name.to_lowercase()).await? {
            Some(account) => Ok(account.id),
            None => Err(CoreError::invalid(
                "unknown_actor",
                format!("There is no account `{name}`."),
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_with_and_without_a_prefix_and_bad_ones_are_refused() {
        assert_eq!(
            parse_cidr("203.0.113.0/24").unwrap(),
            ("203.0.113.0".parse().unwrap(), 24)
        );
        assert_eq!(parse_cidr("2001:db8::1").unwrap().1, 128);
        for bad in ["203.0.113.0/33", "nonsense", "10.0.0.0/x", ""] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn criteria_round_trip_as_json() {
        let c = Criteria {
            actors: vec!["dr.stolen".into()],
            sessions: vec![],
            addresses: vec!["198.51.100.0/24".into()],
            from: Some(time::macros::datetime!(2026-11-20 00:00 UTC)),
            to: None,
            module: ScopeModule::Documents,
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Criteria>(&json).unwrap(), c);
    }
}
