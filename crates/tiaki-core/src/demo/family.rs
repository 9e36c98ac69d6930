//! A family in the demo: at the first practice, its first patient has let the second
//! act for them (a proxy), and the third is the guardian of a young child who has no
//! login of their own. Both are recorded on the acting person's entry in
//! `demo-logins.json` (`acts_for`), so the README's demo can show "acting for".

use super::{DemoLogin, actor_for};
use crate::{CoreError, Tiaki};
use serde::Serialize;
use tiaki_audit::RequestContext;
use tiaki_domain::proxy::birthday_at;
use tiaki_domain::{
    Access, Nhi, PatientId, ProxyAccess, ProxyGrantId, ProxyKind, Scope, Scopes, Target,
};
use tiaki_store::Patient;
use time::{Duration, OffsetDateTime};

/// Someone a demo login may act for.
#[derive(Debug, Clone, Serialize)]
pub struct DemoActsFor {
    pub kind: &'static str,
    pub patient_id: PatientId,
    pub name: String,
    /// Scope name -> "read" or "act".
    pub scopes: std::collections::BTreeMap<&'static str, &'static str>,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

impl Tiaki {
    /// Seeds the proxy and the guardian, through the same store call (with its audit
    /// event) the use cases make. Needs at least three patients with logins at the
    /// first practice; fewer seeds nothing.
    pub(super) async fn demo_family(
        &self,
        logins: &mut [DemoLogin],
        sequence: &mut u32,
    ) -> Result<(), CoreError> {
        let ctx = RequestContext {
            address: None,
            purpose: Some("demo seed".to_owned()),
        };
        let Some(practice) = logins
            .iter()
            .find(|l| l.role == "patient")
            .and_then(|l| l.practice_id)
        else {
            return Ok(());
        };
        let family: Vec<(usize, PatientId)> = logins
            .iter()
            .enumerate()
            .filter(|(_, l)| l.role == "patient" && l.practice_id == Some(practice))
            .filter_map(|(i, l)| l.patient_id.map(|p| (i, p)))
            .take(3)
            .collect();
        let &[(_, elder), (proxy_login, _), (guardian_login, _)] = family.as_slice() else {
            return Ok(());
        };
        let now = OffsetDateTime::now_utc();

        // The proxy: the second patient sees and handles the first one's documents and
        // messages, sees their appointments, for a year.
        let elder_patient = self
            .store
            .patient(elder)
            .await?
            .ok_or(CoreError::NotFound)?;
        let elder_account = self.demo_account_of(logins, elder).await?;
        let proxy_account = self.login_account(logins, proxy_login).await?;
        let scopes = Scopes::default()
            .with(Scope::Documents, Some(Access::Act))
            .with(Scope::Appointments, Some(Access::Read))
            .with(Scope::Messages, Some(Access::Act));
        let grant = ProxyAccess {
            id: ProxyGrantId::new(),
            kind: ProxyKind::Proxy,
            patient: elder,
            grantee: proxy_account,
            scopes,
            created_by: elder_account.id,
            created_at: now,
            expires_at: now + Duration::days(365),
            revoked_at: None,
            revoked_by: None,
        };
        let target = Target::Patient {
            patient: elder,
            practice,
        };
        self.store_grant(
            &actor_for(&elder_account),
            &grant,
            &target,
            "proxy.grant",
            &ctx,
        )
        .await?;
        if let Some(login) = logins.get_mut(proxy_login) {
            login.acts_for.push(acts_for(&grant, &elder_patient));
        }

        // The guardian: a child of eight with no login; the practice admin sets it up.
        let guardian_account = self.login_account(logins, guardian_login).await?;
        let family_name = logins
            .get(guardian_login)
            .and_then(|l| l.display_name.split_once(' '))
            .map_or("Ngata", |(_, family)| family)
            .to_owned();
        let nhi = loop {
            *sequence += 1;
            if let Some(nhi) = Nhi::synthesize(*b"ZTK", *sequence) {
                break nhi;
            }
        };
        let today = now.date();
        let born = today
            .replace_year(today.year() - 8)
            .unwrap_or(today - Duration::days(8 * 365));
        let child = Patient {
            id: PatientId::new(),
            practice,
            nhi,
            given_name: "Manaia".to_owned(),
            family_name,
            date_of_birth: born,
            email: None,
            created_at: now,
        };
        self.create_patient(&child).await?;
        let admin = logins
            .iter()
            .find(|l| l.role == "practice_admin" && l.practice_id == Some(practice))
            .map(|l| l.username.clone())
            .ok_or_else(|| CoreError::Unavailable("no demo practice admin".into()))?;
        let admin = self
            .store
            .account_by_username(&admin)
            .await?
            .ok_or_else(|| CoreError::Unavailable("no demo practice admin".into()))?;
        let until = birthday_at(born, self.config.guardian_until_age)
            .ok_or_else(|| CoreError::Unavailable("demo child's birthday".into()))?;
        let guardianship = ProxyAccess {
            id: ProxyGrantId::new(),
            kind: ProxyKind::Guardian,
            patient: child.id,
            grantee: guardian_account,
            scopes: Scopes::all(Access::Act),
            created_by: admin.id,
            created_at: now,
            expires_at: until,
            revoked_at: None,
            revoked_by: None,
        };
        let target = Target::Patient {
            patient: child.id,
            practice,
        };
        self.store_grant(
            &actor_for(&admin),
            &guardianship,
            &target,
            "guardian.start",
            &ctx,
        )
        .await?;
        if let Some(login) = logins.get_mut(guardian_login) {
            login.acts_for.push(acts_for(&guardianship, &child));
        }
        Ok(())
    }

    async fn demo_account_of(
        &self,
        logins: &[DemoLogin],
        patient: PatientId,
    ) -> Result<tiaki_store::Account, CoreError> {
        let username = logins
            .iter()
            .find(|l| l.patient_id == Some(patient))
            .map(|l| l.username.clone())
            .ok_or(CoreError::NotFound)?;
        self.store
            .account_by_username(&username)
            .await?
            .ok_or(CoreError::NotFound)
    }

    async fn login_account(
        &self,
        logins: &[DemoLogin],
        index: usize,
    ) -> Result<tiaki_domain::AccountId, CoreError> {
        let username = logins
            .get(index)
            .map(|l| l.username.clone())
            .ok_or(CoreError::NotFound)?;
        Ok(self
            .store
            .account_by_username(&username)
            .await?
            .ok_or(CoreError::NotFound)?
            .id)
    }
}

fn acts_for(grant: &ProxyAccess, patient: &Patient) -> DemoActsFor {
    DemoActsFor {
        kind: grant.kind.as_str(),
        patient_id: patient.id,
        name: format!("{} {}", patient.given_name, patient.family_name),
        scopes: grant
            .scopes
            .granted()
            .into_iter()
            .map(|(scope, access)| (scope.as_str(), access.as_str()))
            .collect(),
        until: grant.expires_at,
    }
}
