//! Newtype identifiers. Each kind of id is its own type so a `PatientId` can never be
//! passed where a `DocumentId` is expected; all are UUIDv7 (time-ordered, unguessable
//! enough that probing is noisy, and the guard counts probes anyway).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            #[must_use]
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            #[must_use]
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A patient: a person enrolled at a practice.
    PatientId
);
id_type!(
    /// A general practice (an organisation).
    PracticeId
);
id_type!(
    /// One health document.
    DocumentId
);
id_type!(
    /// A login account (patient, staff or operator).
    AccountId
);
id_type!(
    /// One server-side session.
    SessionId
);
id_type!(
    /// One audited access: the id a receipt carries and a served copy is marked with.
    AccessId
);
id_type!(
    /// An invitation for an enrolled patient to register.
    InvitationId
);
id_type!(
    /// One grant of proxy or guardian access to a patient's records.
    ProxyGrantId
);
id_type!(
    /// One registered passkey (WebAuthn credential) of an account.
    PasskeyId
);
id_type!(
    /// One device an account trusts to skip the second factor for a while.
    TrustedDeviceId
);
id_type!(
    /// One entry of a patient's health record: a condition, medication, allergy,
    /// immunisation, result or visit summary.
    EntryId
);
id_type!(
    /// One request for a repeat prescription.
    PrescriptionRequestId
);
id_type!(
    /// One thread of secure messages between a patient and their practice.
    ThreadId
);
id_type!(
    /// One secure message in a thread.
    MessageId
);
