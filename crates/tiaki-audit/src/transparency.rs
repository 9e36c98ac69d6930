//! The log's public face: signed checkpoints at a cadence, inclusion and consistency
//! proofs, and a witness that keeps a copy of every checkpoint outside the database.

use crate::checkpoint::{Checkpoint, NoteSigner};
use crate::log::AuditError;
use crate::merkle::{self, Frontier, Hash};
use crate::storage::{LogStorage, StoredCheckpoint};
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::Mutex;

/// Where checkpoints are pushed so that someone outside holds the history.
#[derive(Debug, Clone)]
pub enum Witness {
    None,
    /// Each new checkpoint note is appended to this file.
    File(PathBuf),
}

/// Makes and serves checkpoints and proofs for one log.
#[derive(Clone)]
pub struct Transparency {
    storage: Arc<dyn LogStorage>,
    signer: Arc<NoteSigner>,
    origin: String,
    witness: Witness,
    frontier: Arc<Mutex<Option<Frontier>>>,
}

impl std::fmt::Debug for Transparency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transparency")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// An inclusion proof, ready to serve.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: String,
    pub hashes: Vec<String>,
    pub checkpoint: String,
}

fn to_b64(h: &Hash) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h)
}

impl Transparency {
    #[must_use]
    pub fn new(storage: Arc<dyn LogStorage>, signer: NoteSigner, witness: Witness) -> Self {
        Self {
            origin: signer.name().to_owned(),
            storage,
            signer: Arc::new(signer),
            witness,
            frontier: Arc::new(Mutex::new(None)),
        }
    }

    #[must_use]
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Signs a checkpoint over everything committed so far (if anything is new) and
    /// returns the latest checkpoint.
    pub async fn checkpoint(&self) -> Result<StoredCheckpoint, AuditError> {
        let mut guard = self.frontier.lock().await;
        let frontier = guard.get_or_insert_with(Frontier::default);
        let size = self.storage.log_size().await?;
        // Extend in bounded batches so a large backlog never sits in memory at once.
        while frontier.size() < size {
            let to = size.min(frontier.size() + 65_536);
            for leaf in self.storage.leaf_hashes(frontier.size(), to).await? {
                frontier.push(leaf);
            }
            if frontier.size() < to {
                return Err(AuditError::Unavailable(
                    "the log has a gap in its leaf indices".into(),
                ));
            }
        }
        if let Some(latest) = self.storage.checkpoint_latest().await?
            && latest.size == frontier.size()
        {
            return Ok(latest);
        }
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size: frontier.size(),
            root: frontier.root(),
        };
        let stored = StoredCheckpoint {
            size: checkpoint.size,
            root: checkpoint.root,
            note: self.signer.sign(&checkpoint),
            made_at: OffsetDateTime::now_utc(),
        };
        self.storage.checkpoint_put(&stored).await?;
        self.push_to_witness(&stored);
        Ok(stored)
    }

    fn push_to_witness(&self, stored: &StoredCheckpoint) {
        if let Witness::File(path) = &self.witness {
            use std::io::Write as _;
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| {
                    f.write_all(stored.note.as_bytes())
                        .and_then(|()| f.sync_data())
                });
            if let Err(e) = written {
                tracing::warn!(error = %e, "could not push the checkpoint to the witness file");
            }
        }
    }

    /// The newest checkpoint, making the first one if there is none.
    pub async fn latest(&self) -> Result<StoredCheckpoint, AuditError> {
        match self.storage.checkpoint_latest().await? {
            Some(c) => Ok(c),
            None => self.checkpoint().await,
        }
    }

    /// Proves that leaf `index` is in the tree of `size` leaves. The tree size must be
    /// that of a signed checkpoint, whose note comes with the proof.
    pub async fn inclusion(
        &self,
        index: u64,
        size: u64,
    ) -> Result<Option<InclusionProof>, AuditError> {
        let Some(cp) = self.storage.checkpoint_at(size).await? else {
            return Ok(None);
        };
        let leaves = self.storage.leaf_hashes(0, size).await?;
        let Ok(i) = usize::try_from(index) else {
            return Ok(None);
        };
        let Some(proof) = merkle::inclusion_proof(i, &leaves) else {
            return Ok(None);
        };
        let leaf = leaves.get(i).copied().unwrap_or_default();
        Ok(Some(InclusionProof {
            leaf_index: index,
            tree_size: size,
            leaf_hash: to_b64(&leaf),
            hashes: proof.iter().map(to_b64).collect(),
            checkpoint: cp.note,
        }))
    }

    /// Proves many leaves against the checkpoint of `size` leaves, reading the leaf
    /// hashes once: the checkpoint and one proof per index (`None` for an index outside
    /// the tree), or `None` if there is no checkpoint of that size.
    pub async fn inclusion_many(
        &self,
        indices: &[u64],
        size: u64,
    ) -> Result<Option<(StoredCheckpoint, Vec<Option<InclusionProof>>)>, AuditError> {
        let Some(cp) = self.storage.checkpoint_at(size).await? else {
            return Ok(None);
        };
        let prover = merkle::Prover::new(self.storage.leaf_hashes(0, size).await?);
        let proofs = indices
            .iter()
            .map(|&index| {
                let i = usize::try_from(index).ok()?;
                let hashes = prover.inclusion(i)?;
                Some(InclusionProof {
                    leaf_index: index,
                    tree_size: size,
                    leaf_hash: to_b64(&prover.leaf(i)?),
                    hashes: hashes.iter().map(to_b64).collect(),
                    checkpoint: cp.note.clone(),
                })
            })
            .collect();
        Ok(Some((cp, proofs)))
    }

    /// Proves that the tree of `new` leaves extends the tree of `old` leaves.
    pub async fn consistency(&self, old: u64, new: u64) -> Result<Option<Vec<String>>, AuditError> {
        if old > new || self.storage.checkpoint_at(new).await?.is_none() {
            return Ok(None);
        }
        let leaves = self.storage.leaf_hashes(0, new).await?;
        let Ok(old) = usize::try_from(old) else {
            return Ok(None);
        };
        Ok(merkle::consistency_proof(old, &leaves).map(|p| p.iter().map(to_b64).collect()))
    }

    /// Makes a checkpoint every `every`, for as long as the process runs.
    pub fn spawn_cadence(self, every: std::time::Duration) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = self.checkpoint().await {
                    tracing::warn!(error = %e, "could not make an audit checkpoint");
                }
            }
        });
    }
}
