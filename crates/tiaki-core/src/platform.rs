//! What operators see: the platform's shape (practices and counts), never a record.

use crate::{CoreError, Tiaki};
use tiaki_audit::RequestContext;
use tiaki_domain::{Action, Actor, Target};
use tiaki_store::PracticeCounts;

impl Tiaki {
    pub async fn platform_overview(
        &self,
        actor: &Actor,
        ctx: &RequestContext,
    ) -> Result<Vec<PracticeCounts>, CoreError> {
        let grant = self
            .decide(actor, Action::ViewPlatformOverview, Target::Platform, ctx)
            .await?;
        self.audit.record(&grant, ctx, None).await?;
        Ok(self.store.platform_counts().await?)
    }
}
