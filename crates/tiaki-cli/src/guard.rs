//! `tiaki guard …`: the operator console for the guard, run on the server with its
//! database and keys. The same use cases as the operator page, acting as the console;
//! every change is audited.

use clap::Subcommand;
use tiaki_audit::RequestContext;
use tiaki_core::Tiaki;
use tiaki_core::guard::{GuardOperator, Module};
use tiaki_domain::AccountId;
use tiaki_store::ModuleState;

use crate::config::ConfigArgs;

#[derive(Subcommand)]
pub enum GuardCommand {
    /// Active containments, recent alerts and every module's switch.
    Status {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Contain an account: sign it out everywhere and freeze it.
    Contain {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long)]
        account: String,
        #[arg(long)]
        reason: String,
    },
    /// Release a containment (by its id, from `status`).
    Release {
        #[command(flatten)]
        config: ConfigArgs,
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Set a module's kill switch: open, read_only or closed.
    Module {
        #[command(flatten)]
        config: ConfigArgs,
        /// The module (documents).
        module: String,
        /// open, read_only or closed.
        state: String,
        #[arg(long)]
        reason: String,
    },
    /// The decoy patients and documents, one JSON object per line.
    Canaries {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

impl GuardCommand {
    pub fn config(&self) -> &ConfigArgs {
        match self {
            Self::Status { config }
            | Self::Contain { config, .. }
            | Self::Release { config, .. }
            | Self::Module { config, .. }
            | Self::Canaries { config } => config,
        }
    }
}

pub async fn run(app: &Tiaki, command: GuardCommand) -> Result<(), String> {
    let ctx = RequestContext::default();
    let who = GuardOperator::Console;
    match command {
        GuardCommand::Status { .. } => {
            let o = app
                .guard_overview(who, &ctx)
                .await
                .map_err(|e| e.to_string())?;
            for (module, state, _) in &o.modules {
                println!("module {} {}", module.as_str(), state.as_str());
            }
            for c in o.containments.iter().filter(|c| c.released_at.is_none()) {
                println!("contained {} {} {} {}", c.id, c.scope, c.detector, c.reason);
            }
            for a in o.alerts.iter().take(20) {
                println!(
                    "alert {} {} {} {} {}",
                    a.at,
                    a.severity.as_str(),
                    a.detector,
                    a.scope,
                    a.summary
                );
            }
            Ok(())
        }
        GuardCommand::Contain {
            account, reason, ..
        } => {
            let account: AccountId = account
                .trim()
                .parse()
                .map_err(|_| format!("{account:?} is not an account id"))?;
            let id = app
                .contain_account(who, account, &reason, &ctx)
                .await
                .map_err(|e| e.to_string())?;
            println!("Contained: {id}");
            Ok(())
        }
        GuardCommand::Release { id, reason, .. } => {
            let id = uuid::Uuid::parse_str(id.trim())
                .map_err(|_| format!("{id:?} is not a containment id"))?;
            app.release_containment(who, id, &reason, &ctx)
                .await
                .map_err(|e| e.to_string())?;
            println!("Released: {id}");
            Ok(())
        }
        GuardCommand::Module {
            module,
            state,
            reason,
            ..
        } => set_switch(app, &module, &state, &reason, &ctx).await,
        GuardCommand::Canaries { .. } => {
            for c in app.canaries().await.map_err(|e| e.to_string())? {
                println!(
                    "{}",
                    serde_json::json!({
                        "kind": c.kind.as_str(),
                        "id": c.id.to_string(),
                        "practice": c.practice.to_string(),
                    })
                );
            }
            Ok(())
        }
    }
}

/// Sets a module's kill switch from the console, naming the modules and states a
/// mistyped one could have been.
pub async fn set_switch(
    app: &Tiaki,
    module: &str,
    state: &str,
    reason: &str,
    ctx: &RequestContext,
) -> Result<(), String> {
    let module = Module::parse(module).ok_or_else(|| {
        format!(
            "unknown module {module:?}; modules: {}",
            Module::ALL.map(Module::as_str).join(", ")
        )
    })?;
    let state = ModuleState::parse(state)
        .ok_or_else(|| format!("unknown state {state:?}; use open, read_only or closed"))?;
    app.set_module_state(GuardOperator::Console, module, state, reason, ctx)
        .await
        .map_err(|e| e.to_string())?;
    println!("{} is now {}.", module.as_str(), state.as_str());
    Ok(())
}
