//! Demo patients who are enrolled but have not registered yet: one per practice, for
//! trying registration by invitation (search for the family name as practice staff,
//! open "Tiaki account and invitations", send one). They are in no `demo-logins.json`
//! entry, because they have no login until someone invites them.

use crate::{CoreError, Tiaki};
use tiaki_domain::{Nhi, PatientId};
use tiaki_store::{Patient, Practice};
use time::{Date, Month, OffsetDateTime};

/// (given name, family name) of the patient awaiting registration at each demo
/// practice, in the order of the practices. The family names are used by no other demo
/// patient, so a search finds exactly one.
pub const AWAITING_REGISTRATION: [(&str, &str); 3] = [
    ("Hine", "Karaka"),
    ("Tomasi", "Vaipulu"),
    ("Eleanor", "Whitcombe"),
];

impl Tiaki {
    /// Enrols the practice's patient awaiting registration (no account).
    pub(super) async fn demo_awaiting_registration(
        &self,
        practice: &Practice,
        p_index: usize,
        sequence: &mut u32,
    ) -> Result<(), CoreError> {
        let Some((given, family)) = AWAITING_REGISTRATION.get(p_index) else {
            return Ok(());
        };
        let nhi = loop {
            *sequence += 1;
            if let Some(nhi) = Nhi::synthesize(*b"ZTK", *sequence) {
                break nhi;
            }
        };
        let date_of_birth = Date::from_calendar_date(1991, Month::July, 14)
            .map_err(|e| CoreError::Unavailable(format!("demo date: {e}")))?;
        let patient = Patient {
            id: PatientId::new(),
            practice: practice.id,
            nhi,
            given_name: (*given).to_owned(),
            family_name: (*family).to_owned(),
            date_of_birth,
            email: Some(format!(
                "{}.{}@example.test",
                given.to_lowercase(),
                family.to_lowercase()
            )),
            created_at: OffsetDateTime::now_utc(),
        };
        self.create_patient(&patient).await
    }
}
